"""How a job's answers are recorded and how a job ends: shared by the request-by-request runner
and the Batch API's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labelwise.domain import FailureReason, ItemStatus, JobStatus
from labelwise.labelers.base import Outcome
from labelwise.store import Store
from labelwise.store import jobs as svc
from labelwise.store.models import Job, utcnow


@dataclass
class JobProgress:
    """What ``on_progress`` listeners (the CLI bar, the web page) get after every wave."""

    job_id: int
    total: int
    done: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    docs_per_second: float

    @classmethod
    def of(cls, job: Job, docs_per_second: float = 0.0) -> JobProgress:
        """The figures of a job as stored."""
        return cls(
            job.id,
            job.total,
            job.done,
            job.failed,
            job.prompt_tokens,
            job.completion_tokens,
            job.cost_usd,
            docs_per_second,
        )


def results(outcomes: Sequence[Outcome], ids: Sequence[int]) -> list[dict[str, Any]]:
    """The item results of a request's ``outcomes``; documents of ``ids`` without one were
    deleted since the job began."""
    rows = [
        {
            "document_id": o.doc_id,
            "status": ItemStatus.FAILED if o.failure else ItemStatus.DONE,
            "reason": o.failure or "",
            "detail": o.detail,
            "prompt_tokens": o.prompt_tokens,
            "completion_tokens": o.completion_tokens,
        }
        for o in outcomes
    ]
    missing = set(ids) - {o.doc_id for o in outcomes}  # documents deleted meanwhile
    rows += [
        {
            "document_id": d,
            "status": ItemStatus.FAILED,
            "reason": FailureReason.DOCUMENT_DELETED,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        for d in missing
    ]
    return rows


def finish(store: Store, job_id: int, worker: str, reason: str) -> Job:
    """Release what ``worker`` claimed but did not send and, unless other workers still hold
    claims (or another process ended the job: ``reason == "ended"``), give the job its final
    status: ``cancelled``, ``budget_reached``, ``failed``, ``partially_succeeded`` or
    ``succeeded``."""
    with store.session() as session:
        svc.release(session, job_id, worker)  # what this process claimed but did not send
        job = svc.get_job(session, job_id)
        if reason == "ended" or (not reason and svc.pending_count(session, job_id)):
            return job  # ended by another process, or others still hold claims
        if job.reason.startswith("retrying after"):  # news of a retry, not why it ended
            job.reason = ""
        if reason == "cancelled":
            job.status, job.reason = JobStatus.CANCELLED, "cancelled on request"
        elif reason == "budget" and job.budget_usd is not None:
            job.status = JobStatus.BUDGET_REACHED
            job.reason = (
                f"budget reached: ${job.cost_usd:.4f} spent of ${job.budget_usd:.4f}; the next "
                "request could have passed it. Raise the budget to go on: "
                f"job resume {job_id} with a higher budget"
            )
        elif job.failed and not job.done:
            job.status, job.reason = JobStatus.FAILED, "every document failed"
        elif job.failed:
            job.status, job.reason = JobStatus.PARTIALLY_SUCCEEDED, f"{job.failed} documents failed"
        else:
            job.status = JobStatus.SUCCEEDED
        job.finished_at = utcnow()
        return job
