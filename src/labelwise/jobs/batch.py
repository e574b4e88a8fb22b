"""Jobs through the provider's Batch API (OpenAI ``/v1/files`` + ``/v1/batches``; Azure OpenAI
global batch has the same shape): half the price, answers within 24 hours.

The job's pending documents go into one input file, a request a line whose ``custom_id`` names
its documents (``docs-12-13``), so the answers map back without a stored table. The batch's id
is stored on the job as soon as the provider gives it: a job whose process dies is resumed by
polling the same batch, never by sending its documents again. Answers are recorded at the
batch price; a batch that fails or expires leaves its unanswered documents pending, for a
resume to send in a new batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labelwise.autolabel import load_inputs, to_suggestions
from labelwise.costs import Budget, cost
from labelwise.domain import FailureReason, ItemStatus, JobStatus, LabelTask, LabelwiseError
from labelwise.jobs.ending import JobProgress, finish, results
from labelwise.labelers.openai import OpenAILabeler
from labelwise.settings import Settings
from labelwise.store import Store
from labelwise.store import jobs as svc
from labelwise.store import labels as rules
from labelwise.store.models import Job, utcnow
from labelwise.store.projects import get_project

FINAL = ("completed", "failed", "expired", "cancelled")
ALL = 2**31 - 1  # claim every pending item


def document_ids(custom_id: str) -> list[int]:
    """The documents a batch line answers (``docs-12-13`` -> [12, 13]); [] for a foreign id."""
    head, _, rest = custom_id.partition("-")
    if head != "docs" or not rest:
        return []
    try:
        return [int(x) for x in rest.split("-")]
    except ValueError:
        return []


def run_batch(
    store: Store,
    job_id: int,
    labeler: OpenAILabeler,
    task: LabelTask,
    project_name: str,
    worker: str,
    budget: Budget | None,
    on_progress: Callable[[JobProgress], None] | None = None,
    *,
    claim_timeout: float = 60.0,
    poll: float | None = None,
) -> Job:
    """Submit the job's pending documents as one batch (unless it has one), wait for it, record
    every answer, and end the job. A job whose batch another live process is waiting for is
    left to it."""
    poll = Settings().batch_poll if poll is None else poll
    with store.session() as session:
        if svc.claimed_by_others(session, job_id, worker, claim_timeout):
            return svc.get_job(session, job_id)  # another worker submits or waits for it
        page = svc.claim_items(session, job_id, worker, ALL, stale_after=claim_timeout)
        batch_id = svc.get_job(session, job_id).batch_id
    if batch_id is not None:
        state = labeler.batch_state(batch_id)
        if state.status in FINAL:  # it ended while no process waited: record what is left
            _record(store, job_id, labeler, task, project_name, state, on_progress)
            with store.session() as session:
                rest = svc.pending_count(session, job_id)
            if not rest:
                return finish(store, job_id, worker, "")
            batch_id = None  # the rest (held back by a budget, or expired) in a new batch
            with store.session() as session:
                pending = svc.pending_documents(session, job_id)
            page = [(item, doc) for item, doc in page if doc in pending]
    if batch_id is None:
        batch_id, held_back = _submit(store, job_id, labeler, task, worker, budget, page)
        if batch_id is None:
            return finish(store, job_id, worker, "budget" if held_back else "")
    reason, state = _wait(store, job_id, labeler, batch_id, worker, poll)
    _record(store, job_id, labeler, task, project_name, state, on_progress)
    if state.status != "completed":  # what it did not answer goes in a new batch on resume
        with store.session() as session:
            job = svc.get_job(session, job_id)
            job.batch_id = None
            if reason != "cancelled":
                svc.release(session, job_id, worker)
                job.status, job.finished_at = JobStatus.FAILED, utcnow()
                job.reason = (
                    f"the batch {batch_id} {state.status}; {svc.pending_count(session, job_id)} "
                    f"documents were not answered: job resume {job_id} sends them in a new batch"
                )
                return job
    if not reason and budget is not None:
        with store.session() as session:
            if svc.pending_count(session, job_id):  # held back by the budget when submitted
                reason = "budget"
    return finish(store, job_id, worker, reason)


def _submit(
    store: Store,
    job_id: int,
    labeler: OpenAILabeler,
    task: LabelTask,
    worker: str,
    budget: Budget | None,
    page: list[tuple[int, int]],
) -> tuple[str | None, bool]:
    """Write, upload and create the batch of the claimed documents that fit the budget;
    (its id, whether the budget held some back). Documents held back stay pending."""
    inputs, _ = load_inputs(store, [doc for _, doc in page])
    gone = sorted({doc for _, doc in page} - {d.id for d in inputs})
    if gone:  # deleted since the job began
        with store.session() as session:
            svc.record(session, job_id, results([], gone), 0, 0.0)
    k = labeler.options.docs_per_request
    lines: list[dict[str, Any]] = []
    held_back = False
    for i in range(0, len(inputs), k):
        line, worst = labeler.batch_request(task, inputs[i : i + k])
        if budget is not None and not budget.reserve(worst):
            held_back = True
            break
        lines.append(line)
    if not lines:
        with store.session() as session:
            svc.release(session, job_id, worker)
        return None, held_back
    sent = {d for line in lines for d in document_ids(line["custom_id"])}
    batch_id = labeler.submit_batch(lines)
    with store.session() as session:
        job = svc.get_job(session, job_id)
        job.batch_id = batch_id
        job.reason = f"batch {batch_id}: {len(sent)} documents in {len(lines)} requests"
        if held_back:  # the rest waits for a higher budget
            unsent = [doc for _, doc in page if doc not in sent and doc not in gone]
            svc.release_documents(session, job_id, unsent)
    return batch_id, held_back


def _wait(
    store: Store, job_id: int, labeler: OpenAILabeler, batch_id: str, worker: str, poll: float
) -> tuple[str, Any]:
    """Poll the batch until it ends, keeping the job's claims alive; a cancel request cancels
    the batch (what it answered before is still recorded). Returns ``"cancelled"`` or ``""``,
    and the batch as it ended."""
    reason = ""
    while True:
        state = labeler.batch_state(batch_id)
        if state.status in FINAL:
            return reason, state
        with store.session() as session:
            svc.heartbeat(session, job_id, worker)
            cancel = svc.get_job(session, job_id).cancel_requested
        if cancel and not reason:
            labeler.cancel_batch(batch_id)
            reason = "cancelled"
        time.sleep(poll)


def _record(
    store: Store,
    job_id: int,
    labeler: OpenAILabeler,
    task: LabelTask,
    project_name: str,
    state: Any,
    on_progress: Callable[[JobProgress], None] | None,
) -> None:
    """Record every line of the batch's output and error files, at the batch price."""
    lines = labeler.batch_lines(getattr(state, "output_file_id", None))
    lines += labeler.batch_lines(getattr(state, "error_file_id", None))
    for start in range(0, len(lines), 200):
        chunk = lines[start : start + 200]
        wanted = [d for line in chunk for d in document_ids(str(line.get("custom_id", "")))]
        inputs, _ = load_inputs(store, wanted)
        by_id = {d.id: d for d in inputs}
        with store.session() as session:
            project = get_project(session, project_name)
            pending = svc.pending_documents(session, job_id)  # recorded once, if read again
            for line in chunk:
                ids = document_ids(str(line.get("custom_id", "")))
                if not ids:
                    raise LabelwiseError(
                        f"the batch answered a request labelwise did not send: "
                        f"{str(line.get('custom_id'))[:60]!r}"
                    )
                if not set(ids) & pending:
                    continue
                docs = [by_id[d] for d in ids if d in by_id]
                outcomes = labeler.batch_outcomes(task, docs, line) if docs else []
                new = to_suggestions(task, labeler, outcomes, job_id)
                paid = (
                    cost(
                        labeler.price_model,
                        sum(o.prompt_tokens for o in outcomes),
                        sum(o.completion_tokens for o in outcomes),
                        batch=True,
                    )
                    or 0.0
                )
                rules.add_suggestions(session, project, new)
                svc.record(session, job_id, results(outcomes, ids), len(new), paid)
        labeler.flush()
        if on_progress is not None:
            with store.session() as session:
                on_progress(JobProgress.of(svc.get_job(session, job_id)))
    if state.status == "completed":  # a request of the input file the batch never answered
        answered = {str(line.get("custom_id")) for line in lines}
        sent = labeler.batch_lines(getattr(state, "input_file_id", None))
        unanswered = [
            d
            for line in sent
            if str(line.get("custom_id")) not in answered
            for d in document_ids(str(line.get("custom_id", "")))
        ]
        if unanswered:
            with store.session() as session:
                svc.record(
                    session,
                    job_id,
                    [
                        {
                            "document_id": d,
                            "status": ItemStatus.FAILED,
                            "reason": FailureReason.MISSING,
                            "detail": "the batch gave no answer for it",
                            "prompt_tokens": 0,
                            "completion_tokens": 0,
                        }
                        for d in unanswered
                    ],
                    0,
                    0.0,
                )
