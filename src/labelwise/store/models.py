"""Typed models; suggestions (labeler output) and labels (user decisions) live apart."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from labelwise.domain import (
    STORED_JOB,
    Dataset,
    ItemStatus,
    JobStatus,
    ModelStatus,
    ProjectKind,
    SuggestionStatus,
    check_constraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives naive ones back)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(20), default="en")
    # the sentence encoder of its embeddings (labelwise.embeddings.registry.ENCODERS)
    encoder: Mapped[str] = mapped_column(String(40), default="minilm", server_default="minilm")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the project's own instructions template for LLM labelers (None: the package's)
    prompt: Mapped[str | None] = mapped_column(Text, default=None)

    classes: Mapped[list[LabelClass]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="LabelClass.id",
    )

    __table_args__ = (CheckConstraint(check_constraint("kind", ProjectKind), name="kind"),)


class LabelClass(Base):
    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, default="")
    examples: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(back_populates="classes")

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_classes_project_name"),)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1000))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(20))
    dataset: Mapped[str] = mapped_column(String(10), default="train")
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_documents_project_name"),
        Index("ix_documents_project_dataset", "project_id", "dataset"),
        # a project's documents in id order: the first page of a list without sorting them all
        Index("ix_documents_project_id", "project_id", "id"),
        CheckConstraint(check_constraint("dataset", Dataset), name="dataset"),
    )


class Label(Base):
    """A user-defined label: typed by hand, imported, or an accepted suggestion."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    suggestion_id: Mapped[int | None] = mapped_column(
        ForeignKey("suggestions.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("document_id", "class_id", name="uq_labels_document_class"),
        Index("ix_labels_class", "class_id"),
    )


class Suggestion(Base):
    """A labeler's proposal for one class of one document, and the reviewer's decision on it."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    confidence: Mapped[float] = mapped_column(Float)
    rationale: Mapped[str | None] = mapped_column(Text, default=None)
    labeler: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt_version: Mapped[str] = mapped_column(String(50), default="")
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    confidence_source: Mapped[str] = mapped_column(String(40), default="", server_default="")
    status: Mapped[str] = mapped_column(String(10), default=SuggestionStatus.PENDING)
    # who decided: "" a person (one by one, or rows they selected), "threshold" an accept-above
    # or accept-at-precision; only a person's decisions teach the calibration
    decided_by: Mapped[str] = mapped_column(String(20), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        CheckConstraint(check_constraint("status", SuggestionStatus), name="status"),
        CheckConstraint("confidence >= 0 and confidence <= 1", name="confidence"),
        Index("ix_suggestions_document_status", "document_id", "status"),
        # bulk review's order, and the decided suggestions calibration reads
        Index("ix_suggestions_status_confidence", "status", "confidence"),
        Index("ix_suggestions_class", "class_id"),
        Index("ix_suggestions_job", "job_id"),
    )


class SuggestionOutcome(Base):
    """Decision counts per source of suggestions, kept when suggestions themselves are deleted.

    ``source`` is ``job:<id>`` for suggestions of a job, else ``labeler:<name>``; counting at
    decision time means a labeler's accept rate survives training's clean-up.
    """

    __tablename__ = "suggestion_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(100))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    discarded: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("project_id", "source", name="uq_suggestion_outcomes_project_source"),
    )


class Embedding(Base):
    """A cached document embedding, keyed by the text's content hash and the model."""

    __tablename__ = "embeddings"

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian

    __table_args__ = (UniqueConstraint("model", "content_hash", name="uq_embeddings_model_hash"),)


class LlmConnection(Base):
    """A named LLM endpoint a job can use. Holds no secret: only the name of the environment
    variable that holds the API key."""

    __tablename__ = "llm_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(20))
    endpoint: Mapped[str] = mapped_column(String(500))
    model: Mapped[str] = mapped_column(String(200))
    api_version: Mapped[str] = mapped_column(String(40), default="")
    api_key_env: Mapped[str] = mapped_column(String(100), default="")
    price_model: Mapped[str] = mapped_column(String(200), default="")
    rpm: Mapped[int | None] = mapped_column(Integer, default=None)
    tpm: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (CheckConstraint("provider in ('azure', 'openai')", name="provider"),)


class TrainedModel(Base):
    """A trained classifier of a project. Arrays live in ``arrays`` (an ``.npz``, no pickle),
    everything else in ``config`` (JSON, including the arrays' SHA-256). Never changed after
    training finishes."""

    __tablename__ = "trained_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    algorithm: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default=ModelStatus.TRAINING)
    config: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    arrays: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    evaluation: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_trained_models_project_name"),
        CheckConstraint(check_constraint("status", ModelStatus), name="status"),
        # one training per project at a time, enforced by the database
        Index(
            "uq_trained_models_one_training",
            "project_id",
            unique=True,
            sqlite_where=text("status = 'training'"),
            postgresql_where=text("status = 'training'"),
        ),
    )


class Deployment(Base):
    """A name (``production``) pointing at a trained model; redeploying swaps the model."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    model_id: Mapped[int] = mapped_column(ForeignKey("trained_models.id", ondelete="CASCADE"))
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_deployments_project_name"),)


class Job(Base):
    """An autolabel job: what to run, and its state and figures, always the truth in the store."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), default="autolabel")
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    labeler: Mapped[str] = mapped_column(String(50))
    llm: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    classes: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    options: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    suggestions: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    budget_usd: Mapped[float | None] = mapped_column(Float, default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # times a process running this job died holding documents (killed, out of memory)
    crashes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the provider's batch, for a job sent through the Batch API (resumed by its id)
    batch_id: Mapped[str | None] = mapped_column(String(100), default=None)

    __table_args__ = (CheckConstraint(check_constraint("status", STORED_JOB), name="status"),)


class JobItem(Base):
    """One document of a job; written once when its answer is stored, so a resumed job never
    sends a finished document again."""

    __tablename__ = "job_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default=ItemStatus.PENDING)
    reason: Mapped[str] = mapped_column(String(30), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # the process working on a pending item and when it last said so; a claim older than the
    # claim timeout belongs to a process that died and may be taken by another
    claimed_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        UniqueConstraint("job_id", "document_id", name="uq_job_items_job_document"),
        Index("ix_job_items_job_status", "job_id", "status"),
        CheckConstraint(check_constraint("status", ItemStatus), name="status"),
    )


class LlmAnswer(Base):
    """A cached model answer, keyed by a hash of connection, model, prompt version and prompt,
    so that running the same requests again costs nothing."""

    __tablename__ = "llm_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    answer: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PacingSlot(Base):
    """The next free slot of a connection's rate limit (seconds since the epoch), shared by
    every worker that sends to the connection (see ``labelers/ratelimit.py``)."""

    __tablename__ = "pacing"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[float] = mapped_column(Float)


class Audit(Base):
    """A document sampled for a blind check of its label from an accepted suggestion: the
    labels it had then (``suggested``) and the person's blind label (``blind``, once given)."""

    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), unique=True
    )
    suggested: Mapped[list[str]] = mapped_column(JSON)
    blind: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ArchivedDecision(Base):
    """What a person's decision said about a suggestion that training deleted (a rejection, or
    a pending suggestion the user's own label settled): its labeler's confidence and whether it
    was right. The calibration keeps learning from it after the suggestion is gone. A job's
    held-out check of its labeler on the user's labels is kept here too (its generation's
    first evidence)."""

    __tablename__ = "archived_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    labeler: Mapped[str] = mapped_column(String(50))
    confidence: Mapped[float] = mapped_column(Float)
    right: Mapped[bool] = mapped_column(Boolean)
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)  # its generation
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_archived_decisions_project", "project_id"),)
