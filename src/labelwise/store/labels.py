"""User labels and suggestions, and the label rules (README, "Label rules").

- A suggestion never changes or removes a user label.
- Accepting a suggestion creates the user label; rejecting records the decision.
- A user label shadows suggestions: single-label, any user label hides the document's pending
  suggestions; multi-label, a user label hides pending suggestions of the same class.
- Clean-up before training deletes every suggestion that was not accepted, counting it first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from labelwise.domain import (
    MAX_ID,
    Conflict,
    LabelwiseError,
    NotFound,
    ProjectKind,
    SuggestionStatus,
)
from labelwise.store.decisions import BY_THRESHOLD, archive
from labelwise.store.models import (
    Document,
    Label,
    LabelClass,
    Project,
    Suggestion,
    SuggestionOutcome,
    utcnow,
)


def reviewable_clause(project: Project) -> ColumnElement[bool]:
    """Suggestions offered for review: pending and not shadowed by a user label."""
    if project.kind == ProjectKind.SINGLE_LABEL:
        shadow = exists().where(Label.document_id == Suggestion.document_id)
    else:
        shadow = exists().where(
            Label.document_id == Suggestion.document_id, Label.class_id == Suggestion.class_id
        )
    return (Suggestion.status == SuggestionStatus.PENDING.value) & ~shadow


# -- user labels ---------------------------------------------------------------------------------


def set_labels(
    session: Session,
    project: Project,
    document: Document,
    classes: Sequence[LabelClass],
    *,
    replace: bool = True,
) -> list[str]:
    """Give ``document`` these user labels; returns its labels afterwards.

    Single-label projects take exactly one class and replace any label the document had.
    Multi-label projects add the classes (or, with ``replace``, make them the whole set).
    """
    if not classes:
        raise LabelwiseError("give at least one class to label with")
    if project.kind == ProjectKind.SINGLE_LABEL:
        if len({c.id for c in classes}) > 1:
            raise Conflict(
                f"project {project.name!r} is single-label; give one class, "
                f"not {len(classes)} ({', '.join(c.name for c in classes)})"
            )
        replace = True
    if replace:
        session.execute(delete(Label).where(Label.document_id == document.id))
    have = set(session.scalars(select(Label.class_id).where(Label.document_id == document.id)))
    for cls in {c.id: c for c in classes}.values():
        if cls.project_id != project.id:
            raise LabelwiseError(f"class {cls.name!r} is not a class of project {project.name!r}")
        if cls.id not in have:
            session.add(Label(document_id=document.id, class_id=cls.id))
    session.flush()
    return document_labels(session, document)


def remove_labels(session: Session, document: Document, classes: Sequence[LabelClass] = ()) -> int:
    """Remove the given user labels of ``document`` (all of them when none are given)."""
    stmt = delete(Label).where(Label.document_id == document.id)
    if classes:
        stmt = stmt.where(Label.class_id.in_([c.id for c in classes]))
    removed: int = session.execute(stmt).rowcount  # type: ignore[attr-defined]
    return removed


def count_labels(session: Session, project_id: int) -> int:
    """How many labels the project's documents carry (a person's and accepted suggestions)."""
    return int(
        session.scalar(
            select(func.count(Label.id))
            .join(Document, Document.id == Label.document_id)
            .where(Document.project_id == project_id)
        )
        or 0
    )


def document_labels(session: Session, document: Document) -> list[str]:
    return list(
        session.scalars(
            select(LabelClass.name)
            .join(Label, Label.class_id == LabelClass.id)
            .where(Label.document_id == document.id)
            .order_by(LabelClass.id)
        )
    )


# -- suggestions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSuggestion:
    """What a labeler proposes for one document and one class."""

    document_id: int
    class_name: str
    confidence: float
    labeler: str
    model: str = ""
    prompt_version: str = ""
    rationale: str | None = None
    job_id: int | None = None
    tokens: int = 0
    confidence_source: str = ""


def add_suggestions(
    session: Session, project: Project, items: Iterable[NewSuggestion]
) -> list[Suggestion]:
    """Store suggestions; one naming a class the project does not have is refused."""
    class_ids = dict(
        session.execute(
            select(LabelClass.name, LabelClass.id).where(LabelClass.project_id == project.id)
        ).all()
    )
    items = list(items)
    doc_ids = list({item.document_id for item in items})
    in_project: set[int] = set()
    for i in range(0, len(doc_ids), 500):  # one query per 500 documents, not one per item
        in_project.update(
            session.scalars(
                select(Document.id).where(
                    Document.id.in_(doc_ids[i : i + 500]), Document.project_id == project.id
                )
            )
        )
    stored = []
    for item in items:
        if item.class_name not in class_ids:
            raise LabelwiseError(
                f"suggestion for document {item.document_id} names {item.class_name!r}, "
                f"which is not a class of project {project.name!r}"
            )
        if not 0.0 <= item.confidence <= 1.0:
            raise LabelwiseError(f"confidence {item.confidence} is outside [0, 1]")
        if item.document_id not in in_project:
            raise NotFound(f"document {item.document_id} is not in project {project.name!r}")
        row = Suggestion(
            document_id=item.document_id,
            class_id=class_ids[item.class_name],
            confidence=item.confidence,
            rationale=item.rationale,
            labeler=item.labeler,
            model=item.model,
            prompt_version=item.prompt_version,
            job_id=item.job_id,
            tokens=item.tokens,
            confidence_source=item.confidence_source,
        )
        session.add(row)
        stored.append(row)
    session.flush()
    return stored


def reviewable_suggestions(
    session: Session, project: Project, document: Document | None = None
) -> list[Suggestion]:
    """Suggestions offered for review (of one document, or of the project), per document the
    most confident first."""
    if document is not None:  # sorted here: an ORDER BY on confidence tempts SQLite to walk
        # the (status, confidence) index of every pending suggestion instead of this document's
        rows = session.scalars(
            select(Suggestion).where(
                Suggestion.document_id == document.id, reviewable_clause(project)
            )
        )
        return sorted(rows, key=lambda s: (-s.confidence, s.id))
    query = (
        select(Suggestion)
        .join(Document, Document.id == Suggestion.document_id)
        .where(Document.project_id == project.id, reviewable_clause(project))
        .order_by(Suggestion.document_id, Suggestion.confidence.desc())
    )
    return list(session.scalars(query))


def _load(session: Session, project: Project, suggestion_id: int) -> Suggestion:
    if not 0 < suggestion_id <= MAX_ID:
        raise NotFound(f"project {project.name!r} has no suggestion {suggestion_id}")
    row = session.scalar(
        select(Suggestion)
        .join(Document, Document.id == Suggestion.document_id)
        .where(Suggestion.id == suggestion_id, Document.project_id == project.id)
    )
    if row is None:
        raise NotFound(f"project {project.name!r} has no suggestion {suggestion_id}")
    return row


def _is_reviewable(session: Session, project: Project, suggestion: Suggestion) -> bool:
    return (
        session.scalar(
            select(func.count()).where(Suggestion.id == suggestion.id, reviewable_clause(project))
        )
        == 1
    )


def _source(job_id: int | None, labeler: str) -> str:
    """The key of :class:`SuggestionOutcome` counts for suggestions of a job or labeler."""
    return f"job:{job_id}" if job_id is not None else f"labeler:{labeler}"


def _count(session: Session, project_id: int, source: str, **deltas: int) -> None:
    row = session.scalar(
        select(SuggestionOutcome).where(
            SuggestionOutcome.project_id == project_id, SuggestionOutcome.source == source
        )
    )
    if row is None:
        row = SuggestionOutcome(
            project_id=project_id, source=source, accepted=0, rejected=0, discarded=0
        )
        session.add(row)
    for key, value in deltas.items():
        setattr(row, key, getattr(row, key) + value)
    session.flush()


def accept(session: Session, project: Project, suggestion_id: int, *, by: str = "") -> Label:
    """Accept a suggestion offered for review: it becomes the user label of its document.
    ``by`` says who decided (``BY_THRESHOLD``: a bulk acceptance above a threshold, which is
    not a person's judgment of this suggestion)."""
    s = _load(session, project, suggestion_id)
    if not _is_reviewable(session, project, s):
        if s.status != SuggestionStatus.PENDING:
            raise Conflict(f"suggestion {s.id} was already {s.status}")
        raise Conflict(
            f"suggestion {s.id} is not offered for review: the document already has a user "
            "label"
            + (" for that class" if project.kind == ProjectKind.MULTI_LABEL else "")
            + ", and a user label always wins"
        )
    s.status = SuggestionStatus.ACCEPTED.value
    s.decided_at = utcnow()
    s.decided_by = by
    label = Label(document_id=s.document_id, class_id=s.class_id, suggestion_id=s.id)
    session.add(label)
    _count(session, project.id, _source(s.job_id, s.labeler), accepted=1)
    return label


def reject(session: Session, project: Project, suggestion_id: int) -> Suggestion:
    """Record that the reviewer rejected a pending suggestion."""
    s = _load(session, project, suggestion_id)
    if s.status != SuggestionStatus.PENDING:
        raise Conflict(f"suggestion {s.id} was already {s.status}")
    s.status = SuggestionStatus.REJECTED.value
    s.decided_at = utcnow()
    _count(session, project.id, _source(s.job_id, s.labeler), rejected=1)
    return s


def undo(session: Session, project: Project, suggestion_id: int) -> Suggestion:
    """Take back a decision: the suggestion is pending again, the label its acceptance made is
    removed (a label the user set by hand since stays), and the counts are corrected."""
    s = _load(session, project, suggestion_id)
    if s.status == SuggestionStatus.PENDING:
        raise Conflict(f"suggestion {s.id} is pending: there is no decision to undo")
    source = _source(s.job_id, s.labeler)
    if s.status == SuggestionStatus.ACCEPTED:
        label = session.scalar(select(Label).where(Label.suggestion_id == s.id))
        if label is not None:
            session.delete(label)
        _count(session, project.id, source, accepted=-1)
    else:
        _count(session, project.id, source, rejected=-1)
    s.status, s.decided_at, s.decided_by = SuggestionStatus.PENDING.value, None, ""
    session.flush()
    return s


def discard_suggestions(
    session: Session, project: Project, document_ids: Sequence[int] | None = None
) -> int:
    """Delete the suggestions that were not accepted, adding the pending ones to the
    ``discarded`` counts first (rejected ones were counted when rejected) and archiving what
    people's decisions said of them (``decisions.archive``)."""
    archive(session, project, document_ids)
    doc_scope = select(Document.id).where(Document.project_id == project.id)
    if document_ids is not None:
        doc_scope = doc_scope.where(Document.id.in_(document_ids))
    unaccepted = (Suggestion.document_id.in_(doc_scope)) & (
        Suggestion.status != SuggestionStatus.ACCEPTED.value
    )
    return _delete_counting_pending(session, project, unaccepted)


def _delete_counting_pending(session: Session, project: Project, which: Any) -> int:
    """Delete the suggestions ``which`` selects, adding the pending ones among them to their
    source's ``discarded`` counts first, so a labeler's accept rate is never lost."""
    pending = session.execute(
        select(Suggestion.job_id, Suggestion.labeler, func.count())
        .where(which, Suggestion.status == SuggestionStatus.PENDING.value)
        .group_by(Suggestion.job_id, Suggestion.labeler)
    ).all()
    for job_id, labeler, n in pending:
        _count(session, project.id, _source(job_id, labeler), discarded=n)
    deleted: int = session.execute(
        delete(Suggestion).where(which).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return deleted


def replace_pending(
    session: Session, project: Project, labeler: str, document_ids: Sequence[int]
) -> int:
    """Delete ``labeler``'s pending suggestions on ``document_ids`` (of ``project``), adding
    them to the ``discarded`` counts first, as training does: a refreshed run of a free labeler
    replaces them. Decided suggestions stay (their decisions calibrate the labeler)."""
    if not document_ids:
        return 0
    doc_scope = select(Document.id).where(
        Document.project_id == project.id, Document.id.in_(list(document_ids))
    )
    stale = (
        Suggestion.document_id.in_(doc_scope)
        & (Suggestion.labeler == labeler)
        & (Suggestion.status == SuggestionStatus.PENDING.value)
    )
    return _delete_counting_pending(session, project, stale)


def unaccepted(session: Session, project: Project) -> dict[str, Any]:
    """What training would delete: pending (never reviewed) and rejected suggestions, and what
    the pending ones cost (each job's cost shared among its suggestions)."""
    from labelwise.store.models import Job

    rows = session.execute(
        select(Suggestion.status, Suggestion.job_id, func.count())
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Document.project_id == project.id,
            Suggestion.status != SuggestionStatus.ACCEPTED.value,
        )
        .group_by(Suggestion.status, Suggestion.job_id)
    ).all()
    pending = sum(n for status, _, n in rows if status == SuggestionStatus.PENDING)
    rejected = sum(n for status, _, n in rows if status == SuggestionStatus.REJECTED)
    paid = 0.0
    for status, job_id, n in rows:
        job = session.get(Job, job_id) if job_id is not None else None
        if status == SuggestionStatus.PENDING and job is not None and job.suggestions:
            paid += job.cost_usd * n / job.suggestions
    return {"pending": pending, "rejected": rejected, "cost_usd": round(paid, 6)}


def outcomes(session: Session, project: Project) -> dict[str, dict[str, int]]:
    """Accepted / rejected / discarded counts per source (``job:<id>`` or ``labeler:<name>``)."""
    rows = session.scalars(
        select(SuggestionOutcome)
        .where(SuggestionOutcome.project_id == project.id)
        .order_by(SuggestionOutcome.source)
    )
    return {
        r.source: {"accepted": r.accepted, "rejected": r.rejected, "discarded": r.discarded}
        for r in rows
    }


def suggestions_by_document(
    session: Session, project: Project, doc_ids: Sequence[int]
) -> dict[int, list[tuple[str, float]]]:
    """Reviewable (class, confidence) pairs per document, most confident first."""
    out: dict[int, list[tuple[str, float]]] = {i: [] for i in doc_ids}
    for i in range(0, len(doc_ids), 500):
        rows = session.execute(
            select(Suggestion.document_id, LabelClass.name, Suggestion.confidence)
            .join(LabelClass, LabelClass.id == Suggestion.class_id)
            .where(Suggestion.document_id.in_(doc_ids[i : i + 500]), reviewable_clause(project))
            # no ORDER BY: sorting in SQL tempts SQLite to walk the (status, confidence) index
            # of every pending suggestion instead of looking up these documents
        )
        for doc_id, name, conf in rows:
            out[doc_id].append((name, conf))
    for pairs in out.values():
        pairs.sort(key=lambda pair: -pair[1])
    return out


def accept_above(
    session: Session,
    project: Project,
    threshold: float,
    class_name: str | None = None,
    *,
    labeler: str | None = None,
    dry_run: bool = False,
) -> int:
    """Accept every suggestion offered for review with confidence >= ``threshold`` (one class,
    or all; one labeler's, or all). Single-label: only a document's most confident suggestion
    is accepted. With ``dry_run``, only count them."""
    query = (
        select(Suggestion)
        .join(Document, Document.id == Suggestion.document_id)
        .where(
            Document.project_id == project.id,
            reviewable_clause(project),
            Suggestion.confidence >= threshold,
        )
        .order_by(Suggestion.document_id, Suggestion.confidence.desc(), Suggestion.id)
    )
    if class_name is not None:
        query = query.join(LabelClass, LabelClass.id == Suggestion.class_id).where(
            LabelClass.name == class_name
        )
    if labeler is not None:
        query = query.where(Suggestion.labeler == labeler)
    accepted = 0
    seen: set[int] = set()
    for s in session.scalars(query).all():
        if project.kind == ProjectKind.SINGLE_LABEL and s.document_id in seen:
            continue
        seen.add(s.document_id)
        if not dry_run:
            accept(session, project, s.id, by=BY_THRESHOLD)
        accepted += 1
    session.flush()
    return accepted
