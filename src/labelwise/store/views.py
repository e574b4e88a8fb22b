"""What a document, a page of the document list and the review list look like to a user: one
builder each, used by the API, the pages and the CLI's JSON output (the shapes are declared in
:mod:`labelwise.schemas`)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelwise.stats import Calibration
from labelwise.store import labels as rules
from labelwise.store.classes import class_usage
from labelwise.store.documents import labels_by_document
from labelwise.store.models import Document, LabelClass, Project, Suggestion
from labelwise.store.query import DocumentQuery, informativeness
from labelwise.store.trust import VIEW_AGE, agreement_view, calibrations

EXCERPT = 240  # characters of a document's text in lists
ReviewSort = Literal["confidence_desc", "confidence_asc", "document", "informative", "sample"]
# a fixed shuffle of the suggestions: a uniform sample to vouch for a threshold with (Knuth's
# multiplicative hash of the id, so a page and the next one do not overlap)
SHUFFLE = 2654435761
DocumentSort = Literal["id", "informative"]


def class_view(session: Session | None, c: LabelClass) -> dict[str, Any]:
    """A class (``ClassPublic``); with a session, with how many labels and suggestions name it."""
    data: dict[str, Any] = {"name": c.name, "description": c.description, "examples": c.examples}
    if session is not None:
        data["labels"], data["suggestions"] = class_usage(session, c)
    return data


def _estimated(fits: dict[str, Calibration], labeler: str, confidence: float) -> float | None:
    fit = fits.get(labeler)
    value = fit.precision(confidence) if fit is not None else None
    return None if value is None else round(value, 4)


def suggestion_rows(session: Session, project: Project, doc: Document) -> list[dict[str, Any]]:
    """A document's suggestions offered for review (``SuggestionPublic``), with the chance each
    is right as its labeler's reviewed decisions estimate it."""
    names = {c.id: c.name for c in project.classes}
    fits = calibrations(session, project, max_age=VIEW_AGE)
    together = agreement_view(session, project, [doc.id], max_age=VIEW_AGE)
    return [
        {
            "id": s.id,
            "class": names[s.class_id],
            "confidence": round(s.confidence, 4),
            "confidence_source": s.confidence_source,
            "rationale": s.rationale,
            "labeler": s.labeler,
            "model": s.model,
            "prompt_version": s.prompt_version,
            "job_id": s.job_id,
            "estimated_precision": _estimated(fits, s.labeler, s.confidence),
            "agreed_by": together[(doc.id, s.class_id)][0],
            "combined_precision": together[(doc.id, s.class_id)][1],
        }
        for s in rules.reviewable_suggestions(session, project, doc)
    ]


def document_view(session: Session, project: Project, doc: Document) -> dict[str, Any]:
    """One document with its user labels and suggestions (``DocumentPublic``)."""
    return {
        "id": doc.id,
        "name": doc.name,
        "text": doc.text,
        "language": doc.language,
        "dataset": doc.dataset,
        "content_hash": doc.content_hash,
        "labels": rules.document_labels(session, doc),
        "suggestions": suggestion_rows(session, project, doc),
    }


def listing_page(
    session: Session,
    project: Project,
    query: DocumentQuery,
    limit: int,
    after: int = 0,
    before: int | None = None,
    *,
    sort: DocumentSort = "id",
    offset: int = 0,
) -> dict[str, Any]:
    """One page of the filtered document list (``DocumentListPublic``): in id order (keyset
    paging), or the most informative first (``offset`` paging)."""
    if sort == "informative":
        rows = query.informative(session, project, limit=limit, offset=offset)
        after, before = 0, None
    else:
        rows = query.documents(session, project, limit=limit, after_id=after, before_id=before)
    ids = [d.id for d in rows]
    labels = labels_by_document(session, ids)
    suggested = rules.suggestions_by_document(session, project, ids)
    return {
        "documents": [
            {
                "id": d.id,
                "name": d.name,
                "excerpt": d.text[:EXCERPT],
                "language": d.language,
                "dataset": d.dataset,
                "labels": labels[d.id],
                "suggestions": [
                    {"class": c, "confidence": round(conf, 4)} for c, conf in suggested[d.id]
                ],
            }
            for d in rows
        ],
        "next_after": ids[-1] if len(ids) == limit and sort == "id" else None,
        "prev_before": ids[0] if ids and (after or before) else None,
    }


def review_items(
    session: Session,
    project: Project,
    query: DocumentQuery,
    sort: ReviewSort = "confidence_desc",
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Suggestions offered for review with an excerpt of their document (``ReviewItemPublic``)."""
    select_rows = (
        select(Suggestion, Document.name, Document.text, LabelClass.name)
        .join(Document, Document.id == Suggestion.document_id)
        .join(LabelClass, LabelClass.id == Suggestion.class_id)
        .where(query.suggestion_clause(session, project))
    )
    if sort == "informative":  # disagreements first, then the most uncertain
        score = informativeness(project)
        select_rows = select_rows.join(score, score.c.document_id == Suggestion.document_id)
        order: tuple[Any, ...] = (
            score.c.classes.desc(),
            func.abs(Suggestion.confidence - 0.5),
            Suggestion.document_id,
            Suggestion.id,
        )
    elif sort == "sample":
        order = ((Suggestion.id * SHUFFLE) % 4294967296, Suggestion.id)
    else:
        order = {
            "confidence_desc": (Suggestion.confidence.desc(), Suggestion.id),
            "confidence_asc": (Suggestion.confidence, Suggestion.id),
            "document": (Suggestion.document_id, Suggestion.id),
        }[sort]
    rows = session.execute(select_rows.order_by(*order).limit(limit).offset(offset)).all()
    fits = calibrations(session, project, max_age=VIEW_AGE)
    together = agreement_view(session, project, [s.document_id for s, *_ in rows], max_age=VIEW_AGE)
    return [
        {
            "id": s.id,
            "document": name,
            "excerpt": text[:EXCERPT],
            "class": cls,
            "confidence": round(s.confidence, 4),
            "rationale": s.rationale,
            "labeler": s.labeler,
            "model": s.model,
            "job_id": s.job_id,
            "estimated_precision": _estimated(fits, s.labeler, s.confidence),
            "agreed_by": together[(s.document_id, s.class_id)][0],
            "combined_precision": together[(s.document_id, s.class_id)][1],
        }
        for s, name, text, cls in rows
    ]
