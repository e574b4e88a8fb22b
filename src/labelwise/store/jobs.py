"""Jobs and their documents: create, read, take the next pending documents, record answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from labelwise.domain import (
    ACTIVE_JOB,
    FINAL_JOB,
    MAX_ID,
    Conflict,
    ItemStatus,
    JobStatus,
    NotFound,
)
from labelwise.store.models import Job, JobItem, Project, utcnow

FINAL = FINAL_JOB
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
    job = session.get(Job, job_id) if 0 < job_id <= MAX_ID else None
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def list_jobs(session: Session, project: Project) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.project_id == project.id).order_by(Job.id.desc()))
    )


def _unclaimed(stale_after: float) -> ColumnElement[bool]:
    """Items nobody alive holds: never claimed, released, or claimed longer ago than
    ``stale_after`` seconds (that worker stopped renewing: it died)."""
    stale = utcnow() - timedelta(seconds=stale_after)
    return or_(JobItem.claimed_by == "", JobItem.claimed_at.is_(None), JobItem.claimed_at < stale)


def claim_items(
    session: Session, job_id: int, worker: str, limit: int, stale_after: float
) -> list[tuple[int, int]]:
    """Claim up to ``limit`` pending items of a job for ``worker`` and return (item id,
    document id). Items claimed by another worker are skipped unless their claim is older than
    ``stale_after`` seconds (that worker died). On PostgreSQL the rows are locked with
    ``FOR UPDATE SKIP LOCKED``, so workers claiming at once never get the same item; SQLite
    serialises writers and ignores the clause."""
    free = (
        select(JobItem.id)
        .where(
            JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING, _unclaimed(stale_after)
        )
        .order_by(JobItem.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(  # one statement, so SQLite takes its write lock before reading
        update(JobItem)
        .where(JobItem.id.in_(free.scalar_subquery()))
        .values(claimed_by=worker, claimed_at=utcnow())
        .returning(JobItem.id, JobItem.document_id)
    ).all()
    return sorted((item, doc) for item, doc in rows)


def heartbeat(session: Session, job_id: int, worker: str) -> None:
    """Renew ``worker``'s claims on a job's pending items (and the job's heartbeat)."""
    now = utcnow()
    session.execute(
        update(JobItem)
        .where(
            JobItem.job_id == job_id,
            JobItem.status == ItemStatus.PENDING,
            JobItem.claimed_by == worker,
        )
        .values(claimed_at=now)
    )
    session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=now))


def release(session: Session, job_id: int, worker: str | None = None) -> int:
    """Give back the claims on a job's pending items: ``worker``'s, or everyone's. (A finished
    item keeps ``claimed_by``: the process that did it.)"""
    query = update(JobItem).where(JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING)
    if worker is not None:
        query = query.where(JobItem.claimed_by == worker)
    return int(session.execute(query.values(claimed_by="", claimed_at=None)).rowcount)  # type: ignore[attr-defined]


def release_documents(session: Session, job_id: int, documents: Sequence[int]) -> None:
    """Give back the claims on these pending documents of a job (a batch left them out)."""
    for i in range(0, len(documents), 500):
        session.execute(
            update(JobItem)
            .where(
                JobItem.job_id == job_id,
                JobItem.status == ItemStatus.PENDING,
                JobItem.document_id.in_(list(documents[i : i + 500])),
            )
            .values(claimed_by="", claimed_at=None)
        )


def pending_documents(session: Session, job_id: int) -> set[int]:
    """The documents of a job not yet done or failed."""
    return set(
        session.scalars(
            select(JobItem.document_id).where(
                JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING
            )
        )
    )


def document_ids(session: Session, job_id: int) -> list[int]:
    """Every document of a job, done or not, in id order."""
    return list(
        session.scalars(
            select(JobItem.document_id)
            .where(JobItem.job_id == job_id)
            .order_by(JobItem.document_id)
        )
    )


def claimed_by_others(session: Session, job_id: int, worker: str, stale_after: float) -> int:
    """Pending items of the job that another live worker holds."""
    return int(
        session.scalar(
            select(func.count()).where(
                JobItem.job_id == job_id,
                JobItem.status == ItemStatus.PENDING,
                JobItem.claimed_by != worker,
                ~_unclaimed(stale_after),
            )
        )
        or 0
    )


MAX_CRASHES = 2


def count_crash(session: Session, job_id: int) -> None:
    """Count a process of this job that died; after :data:`MAX_CRASHES` the job is ``failed``
    instead of being resumed again (a job that runs out of memory would kill every worker that
    takes it, in a loop). ``job resume`` starts it again on purpose."""
    job = session.get(Job, job_id)
    if job is None or job.status not in ACTIVE_JOB:
        return
    job.crashes += 1
    if job.crashes >= MAX_CRASHES:
        job.status, job.finished_at = JobStatus.FAILED, utcnow()
        job.reason = (
            f"the process running it died {job.crashes} times (killed, or out of memory); it "
            f"is not resumed again by itself: fix the cause, then `labelwise job resume {job_id}`"
        )


def pending_count(session: Session, job_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING
            )
        )
        or 0
    )


def jobs_with_work(session: Session, stale_after: float) -> list[int]:
    """Queued or running jobs, oldest first, that a worker can help with: not being cancelled,
    and with a pending item nobody (alive) holds, or with none left pending (to be ended)."""
    pending = select(JobItem.id).where(
        JobItem.job_id == Job.id, JobItem.status == ItemStatus.PENDING
    )
    claimable = pending.where(_unclaimed(stale_after))
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.status.in_(ACTIVE_JOB),
                Job.cancel_requested.is_(False),
                or_(claimable.exists(), ~pending.exists()),
            )
            .order_by(Job.id)
        )
    )


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
                JobItem.status == ItemStatus.PENDING,
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
            done += r["status"] == ItemStatus.DONE
            failed += r["status"] == ItemStatus.FAILED
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
        .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.FAILED)
        .group_by(JobItem.reason)
    )
    for reason, n in counts:
        rows = session.execute(
            select(Document.name, JobItem.detail)
            .join(Document, Document.id == JobItem.document_id)
            .where(
                JobItem.job_id == job_id,
                JobItem.status == ItemStatus.FAILED,
                JobItem.reason == reason,
            )
            .limit(examples)
        )
        out[reason] = {"count": n, "examples": [f"{name}: {detail}" for name, detail in rows]}
    return out


# a refit chain (labelwise.jobs.refit) lives in its jobs' options
RETRAIN_EVERY = "retrain_every"  # follow the job with a refreshed one every N labels
LABELS_AT = "labels_at"  # the project's labels when the job was made
FOLLOWED_BY = "followed_by"  # the job that continued the chain (-1 while one is being made)


def chain_is_open(job: Job) -> bool:
    """Whether ``job`` is a refit chain's last link that may still be followed."""
    options = job.options or {}
    return bool(options.get(RETRAIN_EVERY)) and FOLLOWED_BY not in options


def refit_waiting(job: Job) -> bool:
    """Whether ``job`` is a refit chain's last link that succeeded: the next job follows once
    the chain's number of labels has arrived."""
    return job.status == JobStatus.SUCCEEDED and chain_is_open(job)


class Cancelled(StrEnum):
    """What :func:`request_cancel` did."""

    CHAIN_STOPPED = "chain stopped"  # the job had ended; no refit job follows it now
    CANCELLED = "cancelled"  # it was queued: it ends here
    REQUESTED = "requested"  # it is running: it stops after the requests in flight


def request_cancel(session: Session, job_id: int) -> Cancelled:
    """Ask a job to stop; a job that ended and is the last of a refit chain ends the chain
    (no job follows it)."""
    job = get_job(session, job_id)
    if job.status in FINAL and chain_is_open(job):
        job.options = {k: v for k, v in job.options.items() if k != RETRAIN_EVERY}
        return Cancelled.CHAIN_STOPPED
    if job.status in FINAL:
        raise Conflict(f"job {job_id} already ended ({job.status})")
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at, job.reason = JobStatus.CANCELLED, utcnow(), "cancelled"
        return Cancelled.CANCELLED
    return Cancelled.REQUESTED


def reset_failed(session: Session, job_id: int) -> int:
    """Put a job's failed documents back to pending (for a resume that retries them)."""
    job = get_job(session, job_id)
    n: int = session.execute(
        update(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.FAILED)
        .values(status=ItemStatus.PENDING, reason="", detail="", finished_at=None, claimed_by="")
    ).rowcount  # type: ignore[attr-defined]
    job.failed -= n
    return n
