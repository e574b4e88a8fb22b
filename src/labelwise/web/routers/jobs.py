"""LLM connections, estimates and autolabel jobs (start → 202 with the job to poll)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from labelwise.domain import MAX_ID, JobStatus, LabelwiseError
from labelwise.estimate import Estimate
from labelwise.jobs import runner
from labelwise.labelers.openai import RunOptions
from labelwise.schemas import ConnectionPublic, ConnectionTestPublic, JobPublic
from labelwise.store import jobs as svc
from labelwise.store import llm as llm_svc
from labelwise.web.deps import DbId, StoreDep

router = APIRouter(tags=["autolabel"])


class ConnectionCreate(BaseModel):
    """An LLM connection; the key stays in the server's environment (``api_key_env``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    provider: Literal["openai", "azure"]
    endpoint: str = Field(
        max_length=500, description="Base URL (OpenAI-compatible) or the Azure endpoint."
    )
    model: str = Field(max_length=200, description="Model name, or the Azure deployment name.")
    api_version: str = Field("", max_length=40)
    api_key_env: str = Field(
        "",
        max_length=100,
        description="Name of the environment variable with the key: it must end in _API_KEY "
        "or be listed in the server's LABELWISE_ALLOWED_KEY_ENVS.",
    )
    price_model: str = Field("", max_length=200)
    rpm: int | None = Field(None, ge=1, le=MAX_ID)
    tpm: int | None = Field(None, ge=1, le=MAX_ID)


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: Literal["embedding", "openai", "model"] = "embedding"
    llm: str | None = Field(None, description="openai: the LLM connection.")
    model: str | None = Field(None, description="model: the project's trained model.")
    classes: list[str] | None = Field(None, description="Only these classes (default: all).")
    docs: Literal["unlabeled", "all", "auto-labeled"] | list[str] = "unlabeled"
    budget_usd: float | None = Field(None, gt=0)
    limit: int | None = Field(None, ge=1, le=MAX_ID)
    options: RunOptions = Field(default_factory=RunOptions)
    retrain_every: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="embedding: once the job succeeded, each time this many more labels arrive "
        "the server (or a worker) runs it again, refreshed: a chain of refits; cancel its last "
        "job to stop it.",
    )
    refresh: bool = Field(
        False,
        description="embedding, model: label documents with pending suggestions of the labeler "
        "too, and replace those (the embedded labeler refits on the labels given since).",
    )

    def labeler_options(self) -> dict[str, Any]:
        if self.labeler != "openai":
            return {}
        return self.options.model_dump()


class EstimateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    llm: str
    classes: list[str] | None = None
    docs: Literal["unlabeled", "all", "auto-labeled"] | list[str] = "unlabeled"
    limit: int | None = Field(None, ge=1, le=MAX_ID)
    options: RunOptions = Field(default_factory=RunOptions)


class Resume(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retry_failed: bool = False
    budget_usd: float | None = Field(None, gt=0, le=1e9, description="A new budget for the job.")


@router.get("/api/llm", tags=["llm"], response_model=list[ConnectionPublic])
def connections(store: StoreDep) -> list[dict[str, Any]]:
    with store.session() as session:
        return [llm_svc.public(c) for c in llm_svc.list_connections(session)]


@router.post("/api/llm/{name}/test", tags=["llm"], response_model=ConnectionTestPublic)
def test_connection(name: str, store: StoreDep) -> dict[str, Any]:
    """Send one tiny request through the connection: latency, the model that answered, JSON
    schema and logprobs support."""
    from labelwise.autolabel import connection_check

    return connection_check(store, name)


@router.post("/api/llm", status_code=201, tags=["llm"], response_model=ConnectionPublic)
def new_connection(body: ConnectionCreate, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        row = llm_svc.add_connection(session, **body.model_dump())
        return llm_svc.public(row)


@router.get("/api/llm/{name}", tags=["llm"], response_model=ConnectionPublic)
def connection(name: str, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        return llm_svc.public(llm_svc.get_connection(session, name))


@router.delete("/api/llm/{name}", status_code=204, tags=["llm"])
def remove_connection(name: str, store: StoreDep) -> None:
    with store.session() as session:
        llm_svc.remove_connection(session, name)


@router.post("/api/projects/{project}/estimate", response_model=Estimate)
def estimate(project: str, body: EstimateCreate, store: StoreDep) -> dict[str, Any]:
    """Tokens and cost of labeling the chosen documents with an LLM connection, counted
    offline before anything is sent."""
    from labelwise.estimate import estimate_for_connection

    return estimate_for_connection(
        store,
        project,
        body.llm,
        body.options.model_dump(exclude_none=True),
        docs=body.docs,
        classes=body.classes,
        limit=body.limit,
    ).to_dict()


@router.post("/api/projects/{project}/jobs", status_code=202, response_model=JobPublic)
def start_job(
    project: str, body: JobCreate, request: Request, response: Response, store: StoreDep
) -> dict[str, Any]:
    """Start an autolabel job: it is stored at once and run by the server in the background;
    poll the job at the returned location."""
    if body.labeler == "openai" and not body.llm:
        raise LabelwiseError("the openai labeler needs an LLM connection (llm)")
    if body.labeler == "model" and not body.model:
        raise LabelwiseError("the model labeler needs a trained model (model)")
    job_id = runner.create(
        store,
        project,
        body.labeler,
        llm=body.llm or "",
        model=body.model or "",
        docs=body.docs,
        classes=body.classes,
        options=body.labeler_options(),
        budget_usd=body.budget_usd,
        limit=body.limit,
        refresh=body.refresh,
        retrain_every=body.retrain_every,
    )
    request.app.state.background.nudge()
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return runner.show(store, job_id)


@router.get("/api/projects/{project}/jobs", response_model=list[JobPublic])
def jobs(project: str, store: StoreDep) -> list[dict[str, Any]]:
    """A project's jobs, newest first."""
    return runner.project_jobs(store, project)


@router.get("/api/jobs/{job_id}", response_model=JobPublic)
def job(job_id: DbId, store: StoreDep) -> dict[str, Any]:
    """A job's status, counts, tokens, cost, times, failures by reason and review counts."""
    return runner.show(store, job_id)


@router.post("/api/jobs/{job_id}/cancel", status_code=202, response_model=JobPublic)
def cancel(job_id: DbId, store: StoreDep) -> dict[str, Any]:
    """Ask a job to stop after the requests in flight."""
    with store.session() as session:
        svc.request_cancel(session, job_id)
    return runner.show(store, job_id)


@router.post("/api/jobs/{job_id}/resume", status_code=202, response_model=JobPublic)
def resume(job_id: DbId, body: Resume, request: Request, store: StoreDep) -> dict[str, Any]:
    """Go on with a cancelled, interrupted or budget-stopped job (done documents are not sent
    again); with ``retry_failed`` the failed ones are sent again too."""
    runner.set_budget(store, job_id, body.budget_usd)
    with store.session() as session:
        job = svc.get_job(session, job_id)
        if job.status == JobStatus.SUCCEEDED and not body.retry_failed:
            raise LabelwiseError(f"job {job_id} already succeeded; nothing to resume")
        if body.retry_failed:
            svc.reset_failed(session, job_id)
        job.status, job.reason, job.cancel_requested, job.finished_at = (
            JobStatus.QUEUED,
            "",
            False,
            None,
        )
    request.app.state.background.nudge()
    return runner.show(store, job_id)
