"""Prediction: classify documents with a deployment (Azure's limits: 25 documents and 125,000
characters a request)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from labelwise.training.predict import predict
from labelwise.web.deps import StoreDep

router = APIRouter(tags=["prediction"])


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    text: str
    language: str | None = None


class PredictCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn]


class ClassScore(BaseModel):
    category: str
    confidenceScore: float


class DocumentResult(BaseModel):
    id: str
    class_: list[ClassScore] = Field(
        alias="class", description="The chosen classes (one, or any number in multi-label)."
    )
    scores: dict[str, float]


class PredictPublic(BaseModel):
    deployment: str
    documents: list[DocumentResult]


@router.post(
    "/api/projects/{project}/deployments/{deployment}/predict",
    response_model=PredictPublic,
    response_model_by_alias=True,
    response_model_exclude_none=True,
)
def predict_documents(
    project: str, deployment: str, body: PredictCreate, store: StoreDep
) -> dict[str, Any]:
    """Classify up to 25 documents (125,000 characters in all) with a deployed model."""
    results = predict(
        store, project, [d.text for d in body.documents], deployment=deployment, limits=True
    )
    for doc, result in zip(body.documents, results, strict=True):
        result["id"] = doc.id
    return {"deployment": deployment, "documents": results}
