"""Audits: a blind check of the labels that came from accepted suggestions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from labelwise.schemas import AuditDocumentPublic, AuditRecordedPublic
from labelwise.store import audit as audits
from labelwise.store.audit import AuditReport
from labelwise.store.projects import get_project
from labelwise.web.deps import StoreDep

router = APIRouter(prefix="/api/projects/{project}/audit", tags=["audit"])


class SampleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(ge=1, le=10_000, description="Documents to draw.")


class BlindLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: list[str] = Field(min_length=1, max_length=200)


def _documents(docs: Any) -> list[dict[str, Any]]:
    return [{"name": d.name, "text": d.text} for d in docs]


@router.post("/sample", response_model=list[AuditDocumentPublic])
def draw(project: str, body: SampleCreate, store: StoreDep) -> list[dict[str, Any]]:
    """Draw documents labeled by accepted suggestions, uniformly at random, to label blind (the
    answer holds their text, not their label)."""
    with store.session() as session:
        return _documents(audits.sample(session, get_project(session, project), body.n))


@router.get("", response_model=list[AuditDocumentPublic])
def waiting(project: str, store: StoreDep) -> list[dict[str, Any]]:
    """Sampled documents still waiting for their blind label."""
    with store.session() as session:
        return _documents(audits.waiting(session, get_project(session, project)))


@router.get("/report", response_model=AuditReport)
def report(project: str, store: StoreDep) -> dict[str, Any]:
    """The share of audited labels that were right (95 % Wilson interval), per class where the
    sample allows, and what it says of the whole dataset."""
    with store.session() as session:
        return audits.report(session, get_project(session, project)).to_dict()


@router.post("/{name:path}", response_model=AuditRecordedPublic)
def blind_label(project: str, name: str, body: BlindLabel, store: StoreDep) -> dict[str, Any]:
    """A sampled document's blind label: it becomes the document's label."""
    with store.session() as session:
        agrees = audits.record(session, get_project(session, project), name, body.labels)
    return {"document": name, "labels": body.labels, "agrees": agrees}
