"""Documents (paged, filtered, searched), user labels, train/test, and the review of one
document's suggestions saved in one go."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.domain import MAX_ID, Conflict, Dataset, LabelwiseError
from labelwise.schemas import ChangedPublic, DocumentListPublic, DocumentPublic
from labelwise.store import labels as rules
from labelwise.store.classes import get_class
from labelwise.store.documents import count_documents, get_document
from labelwise.store.models import Document, Project
from labelwise.store.projects import get_project
from labelwise.store.query import DocumentQuery
from labelwise.store.views import DocumentSort, document_view, listing_page
from labelwise.web.deps import DbId, StoreDep

router = APIRouter(prefix="/api/projects/{project}/documents", tags=["documents"])

Filters = Annotated[DocumentQuery, Query()]


class Review(BaseModel):
    """What a reviewer decided on one document, saved together ("Save labels")."""

    model_config = ConfigDict(extra="forbid")
    accept: list[DbId] = Field(default_factory=list, description="Suggestion ids to accept.")
    reject: list[DbId] = Field(default_factory=list, description="Suggestion ids to reject.")
    labels: list[str] | None = Field(
        None, description="The document's user labels, replacing those it has (manual labeling)."
    )
    dataset: Dataset | None = None
    undo: list[DbId] = Field(
        default_factory=list,
        description="Suggestion ids whose decision to take back (pending again), done first.",
    )


class DatasetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[str] = Field(min_length=1)
    dataset: Dataset


@router.get("", response_model=DocumentListPublic)
def documents(
    project: str,
    store: StoreDep,
    filters: Filters,
    after: int = Query(0, ge=0, le=MAX_ID, description="Page on from this document id (keyset)."),
    before: int | None = Query(
        None, ge=1, le=MAX_ID, description="The page before this document id."
    ),
    limit: int = Query(50, ge=1, le=500),
    count: bool = Query(False, description="Also count every match (slower on huge projects)."),
    sort: DocumentSort = Query(
        "id",
        description="id (keyset paging: after/before), or informative: documents whose "
        "labelers disagree, then the least certain, first (paging: offset).",
    ),
    offset: int = Query(0, ge=0, le=MAX_ID, description="With sort=informative: skip this many."),
) -> dict[str, Any]:
    """Documents matching the filters, a page at a time, with labels and suggestions."""
    with store.session() as session:
        p = get_project(session, project)
        data = listing_page(session, p, filters, limit, after, before, sort=sort, offset=offset)
        if count:
            data["total"] = count_documents(session, filters.clause(session, p))
        return data


@router.get("/{name:path}", response_model=DocumentPublic)
def document(project: str, name: str, store: StoreDep, filters: Filters) -> dict[str, Any]:
    """One document: text, user labels, suggestions for review, and its neighbours in the
    filtered list (for Back / Next)."""
    with store.session() as session:
        p = get_project(session, project)
        doc = get_document(session, p, name)
        data = document_view(session, p, doc)
        nxt = filters.documents(session, p, limit=1, after_id=doc.id)
        prev = filters.documents(session, p, limit=1, before_id=doc.id)
        data["next"] = nxt[0].name if nxt else None
        data["previous"] = prev[0].name if prev else None
        return data


def _offered(session: Session, project: Project, doc: Document) -> set[int]:
    """Ids of the document's suggestions offered for review."""
    return {s.id for s in rules.reviewable_suggestions(session, project, doc)}


def _set_labels(session: Session, project: Project, doc: Document, names: list[str]) -> None:
    """Make ``names`` the document's user labels ([] removes them all)."""
    if names:
        rules.set_labels(session, project, doc, [get_class(session, project, n) for n in names])
    else:
        rules.remove_labels(session, doc)


@router.post("/{name:path}/review", response_model=DocumentPublic)
def review(
    project: str, name: str, body: Review, store: StoreDep, filters: Filters
) -> dict[str, Any]:
    """Save a reviewer's decisions on one document in one transaction: accepted suggestions
    become user labels, rejected ones are recorded, manual labels and train/test are set. With
    the list's filters in the query, ``in_list`` says whether the document still matches them."""
    if set(body.accept) & set(body.reject):
        raise Conflict("a suggestion cannot be both accepted and rejected")
    with store.session() as session:
        p = get_project(session, project)
        doc = get_document(session, p, name)
        for sid in body.undo:
            if rules.undo(session, p, sid).document_id != doc.id:
                raise Conflict(f"suggestion {sid} is not one of {name!r}")
        unknown = (set(body.accept) | set(body.reject)) - _offered(session, p, doc)
        if unknown:
            raise Conflict(
                f"suggestions {sorted(unknown)} are not offered for review on {name!r} "
                "(decided already, or shadowed by a user label); reload the document"
            )
        for sid in body.reject:
            rules.reject(session, p, sid)
        if body.labels is not None:
            _set_labels(session, p, doc, body.labels)
        for sid in body.accept:
            if sid in _offered(session, p, doc):  # a label set just now may shadow it
                rules.accept(session, p, sid)
        if body.dataset is not None:
            doc.dataset = body.dataset.value
        session.flush()
        data = document_view(session, p, doc)
        data["in_list"] = bool(
            session.scalar(
                select(Document.id).where(Document.id == doc.id, filters.clause(session, p))
            )
        )
        return data


@router.put("/{name:path}/labels", response_model=DocumentPublic)
def set_labels(project: str, name: str, labels: list[str], store: StoreDep) -> dict[str, Any]:
    """Set a document's user labels (single-label: exactly one class); [] removes them."""
    with store.session() as session:
        p = get_project(session, project)
        doc = get_document(session, p, name)
        _set_labels(session, p, doc, labels)
        return document_view(session, p, doc)


@router.post("/dataset", response_model=ChangedPublic)
def dataset(project: str, body: DatasetChange, store: StoreDep) -> dict[str, int]:
    """Assign documents to the train or test set."""
    from labelwise.store.documents import set_dataset

    with store.session() as session:
        n = set_dataset(session, get_project(session, project), body.documents, body.dataset)
    if not n:
        raise LabelwiseError("no documents given")
    return {"changed": n}
