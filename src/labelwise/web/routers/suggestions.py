"""Suggestions for review: list with filters, accept, reject, in bulk and above a confidence."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from labelwise.domain import MAX_ID
from labelwise.schemas import (
    AcceptedPublic,
    CalibrationPublic,
    RejectedPublic,
    ReviewItemPublic,
    UnacceptedPublic,
)
from labelwise.store import labels as rules
from labelwise.store import trust
from labelwise.store.projects import get_project
from labelwise.store.query import DocumentQuery
from labelwise.store.views import ReviewSort, review_items
from labelwise.web.deps import DbId, StoreDep

router = APIRouter(prefix="/api/projects/{project}/suggestions", tags=["suggestions"])


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[DbId] = Field(min_length=1, max_length=10_000)


class AcceptAbove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(ge=0, le=1)
    class_name: str | None = Field(None, alias="class")
    dry_run: bool = Field(False, description="Only count what would be accepted.")


class PrecisionAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    precision: float = Field(ge=0.5, le=0.999, description="The target precision, e.g. 0.95.")
    labeler: str | None = Field(None, description="Whose suggestions (default: the only one).")
    dry_run: bool = Field(False, description="Say what would be accepted, accept nothing.")


@router.get("/unaccepted", response_model=UnacceptedPublic)
def unaccepted(project: str, store: StoreDep) -> dict[str, Any]:
    """What training would delete: suggestions nobody reviewed (and what they cost), and the
    rejected ones."""
    with store.session() as session:
        return rules.unaccepted(session, get_project(session, project))


@router.get("/calibration", response_model=list[CalibrationPublic])
def calibration(project: str, store: StoreDep) -> list[dict[str, Any]]:
    """Each labeler's confidences fitted to the reviewed decisions: the estimated precision at a
    few confidences, the calibration's cross-fitted error, or why there are too few."""
    with store.session() as session:
        return trust.calibration_report(session, get_project(session, project))


@router.get("", response_model=list[ReviewItemPublic])
def suggestions(
    project: str,
    store: StoreDep,
    filters: Annotated[DocumentQuery, Query()],
    sort: ReviewSort = "confidence_desc",
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> list[dict[str, Any]]:
    """Suggestions offered for review (pending, not shadowed by a user label), with an excerpt
    of their document; the document list's filters select them (``filter`` aside)."""
    with store.session() as session:
        return review_items(session, get_project(session, project), filters, sort, limit, offset)


@router.post("/accept", response_model=AcceptedPublic)
def accept(project: str, body: Decision, store: StoreDep) -> dict[str, int]:
    """Accept suggestions (all or none): each becomes a user label."""
    with store.session() as session:
        p = get_project(session, project)
        for sid in body.ids:
            rules.accept(session, p, sid)
    return {"accepted": len(body.ids)}


@router.post("/reject", response_model=RejectedPublic)
def reject(project: str, body: Decision, store: StoreDep) -> dict[str, int]:
    """Reject suggestions (all or none); the decisions count toward the labeler's accept rate."""
    with store.session() as session:
        p = get_project(session, project)
        for sid in body.ids:
            rules.reject(session, p, sid)
    return {"rejected": len(body.ids)}


@router.post("/accept-above", response_model=AcceptedPublic)
def accept_above(project: str, body: AcceptAbove, store: StoreDep) -> dict[str, int]:
    """Accept every suggestion for review at or above a confidence, for one class or all
    (single-label: a document's most confident one)."""
    with store.session() as session:
        n = rules.accept_above(
            session,
            get_project(session, project),
            body.threshold,
            body.class_name,
            dry_run=body.dry_run,
        )
    return {"accepted": n}


@router.post("/accept-at-precision", response_model=trust.Acceptance)
def accept_at_precision(project: str, body: PrecisionAccept, store: StoreDep) -> dict[str, Any]:
    """Accept the pending suggestions above the lowest confidence whose reviewed decisions
    reach the target precision at their 90 % lower bound; nothing when they cannot (the answer
    says how many more to review)."""
    with store.session() as session:
        result = trust.accept_at_precision(
            session,
            get_project(session, project),
            body.precision,
            body.labeler,
            dry_run=body.dry_run,
        )
    return result.to_dict()
