"""Jobs and their documents: create, read, take the next pending documents, record answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from labelwise.domain import Conflict, NotFound
from labelwise.store.models import Job, JobItem, Project, utcnow

FINAL = ("succeeded", "partially_succeeded", "failed", "cancelled")
CHUNK = 1000


def create_job(
    session: Session,
    project: Project,
    document_ids: Sequence[int],
    *,
    labeler: str,
    llm: str = "",
    model: str = "",
    classes: list[str] | None = None,
    options: dict[str, Any] | None = None,
    budget_usd: float | None = None,
) -> Job:
    """Persist a job and one pending item per document, before any work starts."""
    job = Job(
        project_id=project.id,
        labeler=labeler,
        llm=llm,
        model=model,
        classes=classes,
        options=options or {},
        total=len(document_ids),
        budget_usd=budget_usd,
    )
    session.add(job)
    session.flush()
    for i in range(0, len(document_ids), CHUNK):
        session.execute(
            insert(JobItem),
            [{"job_id": job.id, "document_id": d} for d in document_ids[i : i + CHUNK]],
        )
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def list_jobs(session: Session, project: Project) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.project_id == project.id).order_by(Job.id.desc()))
    )


def pending_items(
    session: Session, job_id: int, limit: int, after_item: int = 0
) -> list[tuple[int, int]]:
    """(item id, document id) of the next pending items of a job after ``after_item``."""
    rows = session.execute(
        select(JobItem.id, JobItem.document_id)
        .where(JobItem.job_id == job_id, JobItem.status == "pending", JobItem.id > after_item)
        .order_by(JobItem.id)
        .limit(limit)
    )
    return [(item, doc) for item, doc in rows]


def record(
    session: Session, job_id: int, results: Sequence[dict[str, Any]], suggestions: int, cost: float
) -> None:
    """Mark items done/failed (only those still pending: an item is written once) and add the
    figures to the job, in the caller's transaction."""
    now = utcnow()
    done = failed = prompt = completion = 0
    for r in results:
        changed = session.execute(
            update(JobItem)
            .where(
                JobItem.job_id == job_id,
                JobItem.document_id == r["document_id"],
                JobItem.status == "pending",
            )
            .values(
                status=r["status"],
                reason=r.get("reason", ""),
                detail=r.get("detail", "")[:500],
                prompt_tokens=r["prompt_tokens"],
                completion_tokens=r["completion_tokens"],
                finished_at=now,
            )
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            done += r["status"] == "done"
            failed += r["status"] == "failed"
            prompt += r["prompt_tokens"]
            completion += r["completion_tokens"]
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            done=Job.done + done,
            failed=Job.failed + failed,
            suggestions=Job.suggestions + suggestions,
            prompt_tokens=Job.prompt_tokens + prompt,
            completion_tokens=Job.completion_tokens + completion,
            cost_usd=Job.cost_usd + cost,
            heartbeat_at=now,
        )
    )


def failures(session: Session, job_id: int, examples: int = 3) -> dict[str, dict[str, Any]]:
    """Failed documents grouped by reason, with a few examples each."""
    from labelwise.store.models import Document

    out: dict[str, dict[str, Any]] = {}
    counts = session.execute(
        select(JobItem.reason, func.count())
        .where(JobItem.job_id == job_id, JobItem.status == "failed")
        .group_by(JobItem.reason)
    )
    for reason, n in counts:
        rows = session.execute(
            select(Document.name, JobItem.detail)
            .join(Document, Document.id == JobItem.document_id)
            .where(JobItem.job_id == job_id, JobItem.status == "failed", JobItem.reason == reason)
            .limit(examples)
        )
        out[reason] = {"count": n, "examples": [f"{name}: {detail}" for name, detail in rows]}
    return out


def request_cancel(session: Session, job_id: int) -> Job:
    job = get_job(session, job_id)
    if job.status in FINAL:
        raise Conflict(f"job {job_id} already ended ({job.status})")
    job.cancel_requested = True
    if job.status == "queued":
        job.status, job.finished_at, job.reason = "cancelled", utcnow(), "cancelled"
    return job


def reset_failed(session: Session, job_id: int) -> int:
    """Put a job's failed documents back to pending (for a resume that retries them)."""
    job = get_job(session, job_id)
    n: int = session.execute(
        update(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status == "failed")
        .values(status="pending", reason="", detail="", finished_at=None)
    ).rowcount  # type: ignore[attr-defined]
    job.failed -= n
    return n
