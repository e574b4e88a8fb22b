"""Documents: batched writes for importers, lookup, filtered listing, train/test assignment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from labelwise.domain import (
    Dataset,
    DocFilter,
    DocumentRecord,
    NotFound,
    ProjectKind,
    RecordError,
    content_hash,
)
from labelwise.store import labels as label_rules
from labelwise.store.models import Document, Label, LabelClass, Project, Suggestion, utcnow

IN_CHUNK = 500  # names per IN (...) query, well under every backend's parameter limit


@dataclass
class BatchResult:
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    duplicates: list[str] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)


def write_batch(
    session: Session,
    project: Project,
    records: Sequence[DocumentRecord],
    class_ids: dict[str, int],
    *,
    replace: bool = False,
) -> BatchResult:
    """Store one batch of documents (and the user labels they carry) in the caller's transaction.

    A name already stored is a duplicate unless ``replace``; then its text, language and dataset
    are replaced and, when the record carries labels, its user labels are set to them. Records
    whose labels name unknown classes are errors; ``class_ids`` maps the known names.
    """
    result = BatchResult()
    single = project.kind == ProjectKind.SINGLE_LABEL
    good: dict[str, DocumentRecord] = {}
    for rec in records:
        if rec.labels is not None:
            unknown = [c for c in rec.labels if c not in class_ids]
            if unknown:
                result.errors.append(
                    RecordError(
                        rec.where,
                        (
                            f"label {unknown[0]!r} is not a class of project {project.name!r}; "
                            "add the class first, or import with class creation on"
                        ),
                    )
                )
                continue
            if single and len(set(rec.labels)) > 1:
                result.errors.append(
                    RecordError(
                        rec.where,
                        (
                            f"{len(rec.labels)} labels ({', '.join(rec.labels)}) in a single-label "
                            "project; give one label per document"
                        ),
                    )
                )
                continue
        if rec.name in good:
            result.duplicates.append(rec.name)
            continue
        good[rec.name] = rec

    existing: dict[str, tuple[int, str]] = {}
    names = list(good)
    for i in range(0, len(names), IN_CHUNK):
        rows = session.execute(
            select(Document.name, Document.id, Document.content_hash).where(
                Document.project_id == project.id, Document.name.in_(names[i : i + IN_CHUNK])
            )
        )
        existing.update({n: (doc_id, h) for n, doc_id, h in rows})

    now = utcnow()
    new_rows = []
    for name, rec in good.items():
        digest = content_hash(rec.text)
        if name in existing:
            if not replace:
                result.duplicates.append(name)
                continue
            doc_id, old_hash = existing[name]
            values: dict[str, object] = {
                "text": rec.text,
                "content_hash": digest,
                "updated_at": now,
            }
            if rec.language:
                values["language"] = rec.language
            if rec.dataset:
                values["dataset"] = rec.dataset.value
            session.execute(update(Document).where(Document.id == doc_id).values(**values))
            if old_hash != digest:
                # suggestions were made for a text that no longer exists
                label_rules.discard_suggestions(session, project, [doc_id])
                result.replaced += 1
            else:
                result.unchanged += 1
            if rec.labels is not None:
                session.execute(delete(Label).where(Label.document_id == doc_id))
                _insert_labels(session, doc_id, rec.labels, class_ids)
            continue
        new_rows.append(
            {
                "project_id": project.id,
                "name": name,
                "text": rec.text,
                "language": rec.language or project.language,
                "dataset": (rec.dataset or Dataset.TRAIN).value,
                "content_hash": digest,
                "created_at": now,
                "updated_at": now,
            }
        )
    if new_rows:
        ids = session.scalars(
            insert(Document).returning(Document.id, sort_by_parameter_order=True), new_rows
        ).all()
        result.inserted = len(ids)
        label_rows = [
            {"document_id": doc_id, "class_id": class_ids[c], "created_at": now}
            for doc_id, row in zip(ids, new_rows, strict=True)
            for c in dict.fromkeys(good[str(row["name"])].labels or ())
        ]
        if label_rows:
            session.execute(insert(Label), label_rows)
    return result


def _insert_labels(
    session: Session, doc_id: int, names: Sequence[str], class_ids: dict[str, int]
) -> None:
    rows = [
        {"document_id": doc_id, "class_id": class_ids[c], "created_at": utcnow()}
        for c in dict.fromkeys(names)
    ]
    if rows:
        session.execute(insert(Label), rows)


def get_document(session: Session, project: Project, name: str) -> Document:
    doc = session.scalar(
        select(Document).where(Document.project_id == project.id, Document.name == name)
    )
    if doc is None:
        raise NotFound(f"project {project.name!r} has no document named {name!r}")
    return doc


def set_dataset(session: Session, project: Project, names: Sequence[str], dataset: Dataset) -> int:
    """Assign documents to the train or test set; every name must exist."""
    ids = [get_document(session, project, n).id for n in names]
    session.execute(update(Document).where(Document.id.in_(ids)).values(dataset=dataset.value))
    return len(ids)


def filter_clause(project: Project, which: DocFilter, class_id: int | None) -> ColumnElement[bool]:
    """The WHERE clause on :class:`Document` for the Data labeling filters."""
    has_label = exists().where(Label.document_id == Document.id)
    label_of_class = exists().where(Label.document_id == Document.id, Label.class_id == class_id)
    offered = label_rules.reviewable_clause(project)
    suggestion = exists().where(Suggestion.document_id == Document.id, offered)
    suggestion_of_class = exists().where(
        Suggestion.document_id == Document.id, Suggestion.class_id == class_id, offered
    )
    clauses: list[ColumnElement[bool]] = [Document.project_id == project.id]
    if which == DocFilter.LABELED:
        clauses.append(label_of_class if class_id is not None else has_label)
    elif which == DocFilter.UNLABELED:
        clauses.append(~has_label)
        if class_id is not None:
            clauses.append(suggestion_of_class)
    elif which == DocFilter.AUTO_LABELED:
        clauses.append(suggestion_of_class if class_id is not None else suggestion)
    elif class_id is not None:
        clauses.append(or_(label_of_class, suggestion_of_class))
    return and_(*clauses)


def count_documents(session: Session, clause: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(Document).where(clause)) or 0)


def labels_by_document(session: Session, doc_ids: Sequence[int]) -> dict[int, list[str]]:
    """User label class names for each of ``doc_ids``."""
    out: dict[int, list[str]] = {i: [] for i in doc_ids}
    for i in range(0, len(doc_ids), IN_CHUNK):
        rows = session.execute(
            select(Label.document_id, LabelClass.name)
            .join(LabelClass, LabelClass.id == Label.class_id)
            .where(Label.document_id.in_(doc_ids[i : i + IN_CHUNK]))
            .order_by(Label.document_id, LabelClass.id)
        )
        for doc_id, name in rows:
            out[doc_id].append(name)
    return out
