"""The JSON shapes the API answers with, declared on the routes so the OpenAPI document names
them. Shapes the core already declares as dataclasses (``ProjectSummary``, ``ImportReport``,
``Estimate``, ``Acceptance``) are used as they are, not restated here. Open-ended parts (a
model's config, a job's options, an evaluation's per-class table) are typed as mappings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from labelwise.domain import JobStatus, ModelStatus


class Shape(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class HealthPublic(Shape):
    status: str
    version: str


class EncoderPublic(Shape):
    name: str
    languages: str
    model: str
    package: str
    licence: str
    window: int = Field(description="Tokens read at once; longer texts are read in windows.")
    install: str


class ClassPublic(Shape):
    name: str
    description: str
    examples: list[str]
    labels: int | None = Field(None, description="User labels of the class (in listings).")
    suggestions: int | None = Field(None, description="Its suggestions (in listings).")


class ClassRemovedPublic(Shape):
    labels_removed: int
    suggestions_removed: int


class ClassScorePublic(Shape):
    class_name: str = Field(alias="class")
    confidence: float


class DocumentRowPublic(Shape):
    id: int
    name: str
    excerpt: str
    language: str
    dataset: str
    labels: list[str]
    suggestions: list[ClassScorePublic]


class DocumentListPublic(Shape):
    documents: list[DocumentRowPublic]
    next_after: int | None
    prev_before: int | None
    total: int | None = None


class SuggestionPublic(Shape):
    id: int
    class_name: str = Field(alias="class")
    confidence: float
    confidence_source: str
    rationale: str | None
    labeler: str
    model: str
    prompt_version: str
    job_id: int | None
    estimated_precision: float | None = Field(
        None,
        description="The chance it is right, from its labeler's reviewed decisions (calibrated); "
        "null while there are too few of them.",
    )
    agreed_by: list[str] = Field(
        default_factory=list,
        description="Every labeler that suggested this class for the document.",
    )
    combined_precision: float | None = Field(
        None,
        description="The chance the class is right from all the labelers' suggestions together "
        "(learned from the reviewed decisions); null while there are too few of them.",
    )


class DocumentPublic(Shape):
    id: int
    name: str
    text: str
    language: str
    dataset: str
    content_hash: str
    labels: list[str]
    suggestions: list[SuggestionPublic]
    next: str | None = Field(None, description="The next document of the filtered list.")
    previous: str | None = None
    in_list: bool | None = Field(
        None,
        description="After a review: whether the document still matches the filters sent "
        "with it (a decision can take it out of 'Auto labeled').",
    )


class ChangedPublic(Shape):
    changed: int


class ReviewItemPublic(Shape):
    id: int
    document: str
    excerpt: str
    class_name: str = Field(alias="class")
    confidence: float
    rationale: str | None
    labeler: str
    model: str
    job_id: int | None
    estimated_precision: float | None = Field(
        None, description="The chance it is right, from its labeler's reviewed decisions."
    )
    agreed_by: list[str] = Field(
        default_factory=list, description="Every labeler that suggested this class for it."
    )
    combined_precision: float | None = Field(
        None, description="The chance it is right from all the labelers together."
    )


class AcceptedPublic(Shape):
    accepted: int


class RejectedPublic(Shape):
    rejected: int


class UnacceptedPublic(Shape):
    pending: int
    rejected: int
    cost_usd: float


class ConnectionPublic(Shape):
    name: str
    provider: str
    endpoint: str
    model: str
    api_version: str
    api_key_env: str
    price_model: str
    rpm: int | None
    tpm: int | None


class ConnectionTestPublic(Shape):
    ok: bool
    detail: str
    latency_ms: int | None
    model: str | None = Field(None, description="The model that answered (Azure: the real one).")
    json_schema: bool | None = Field(None, description="The server takes a JSON-schema format.")
    logprobs: bool | None = Field(None, description="The server gives token logprobs.")


class CalibrationPublic(Shape):
    labeler: str
    reviewed: int = Field(description="Its reviewed decisions: accepted, rejected, or overruled.")
    right: int
    fitted: bool = Field(description="Whether there were enough decisions to estimate.")
    error: float | None = Field(
        None, description="Cross-fitted expected calibration error (0 is perfect)."
    )
    reason: str
    precision_at: dict[str, float | None] = Field(
        description="Estimated precision at confidences 0.5, 0.7, 0.8, 0.9, 0.95."
    )


class AuditDocumentPublic(Shape):
    name: str
    text: str


class AuditRecordedPublic(Shape):
    document: str
    labels: list[str]
    agrees: bool = Field(description="Whether the blind label is the one the suggestion gave.")


class FailureGroupPublic(Shape):
    count: int
    examples: list[str]


class ReviewCountsPublic(Shape):
    accepted: int
    rejected: int
    discarded: int


class JobPublic(Shape):
    id: int
    project: str
    status: JobStatus
    labeler: str
    llm: str
    model: str
    classes: list[str] | None
    options: dict[str, Any]
    total: int
    done: int
    failed: int
    pending: int
    suggestions: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    docs_per_second: float
    budget_usd: float | None
    reason: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    refit_waiting: bool  # its refit chain waits for labels: a job will follow it
    failures: dict[str, FailureGroupPublic]
    review: ReviewCountsPublic


class TrainingStartedPublic(Shape):
    model: str
    status: ModelStatus
    train_documents: int
    test_documents: int
    discarded_suggestions: int
    warnings: list[str]


class ModelPublic(Shape):
    name: str
    algorithm: str
    status: ModelStatus
    error: str | None
    created_at: datetime | None
    finished_at: datetime | None
    config: dict[str, Any]


class EvaluationPublic(Shape):
    model_config = ConfigDict(extra="allow")  # guidance and the confusion table come along

    documents: int
    per_class: dict[str, dict[str, float]]
    micro: dict[str, float]
    macro: dict[str, float]
    mismatches: list[dict[str, Any]]
    accuracy: float | None = None


class DeploymentPublic(Shape):
    name: str
    model: str
    deployed_at: datetime | None
