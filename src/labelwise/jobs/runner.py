"""Run autolabel jobs: persisted before work starts, answers committed as they arrive, so a
job whose process dies is resumed without sending a finished document again.

Money: every request reserves its worst case (its prompt counted as the provider bills it,
and ``max_tokens`` of answer) before it is sent, and settles with the provider's reported usage;
a request that could pass the budget is never started, and the job ends ``budget_reached``.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from labelwise.autolabel import (
    answered_ids,
    build_task,
    check_held_out,
    load_inputs,
    make_labeler,
    select_documents,
    survey,
    to_suggestions,
)
from labelwise.costs import Budget, cost
from labelwise.domain import (
    Conflict,
    DocInput,
    JobStatus,
    LabelwiseError,
    ProviderRefused,
)
from labelwise.jobs.batch import run_batch
from labelwise.jobs.ending import JobProgress, finish, results
from labelwise.labelers.base import Labeler
from labelwise.labelers.loop import Answered, LabelingLoop, Stopped
from labelwise.labelers.openai import OpenAILabeler, RunOptions
from labelwise.processes import here
from labelwise.store import Store
from labelwise.store import jobs as svc
from labelwise.store import labels as rules
from labelwise.store.models import Job, Project, as_utc, utcnow
from labelwise.store.projects import get_project

LABELER_OPTIONS = tuple(RunOptions.model_fields)  # what a job stores of its options
REFRESH = "refresh"  # the job option of a refreshed run (it replaces pending suggestions)
CLAIM_TIMEOUT = 60.0  # seconds without a heartbeat after which a claim is taken over


Listener = Callable[[JobProgress], None]


def labeler_for(store: Store, job: Job, project: Project) -> Labeler:
    options = {k: v for k, v in (job.options or {}).items() if k in LABELER_OPTIONS}
    return make_labeler(
        store,
        job.labeler,
        llm=job.llm or None,
        options=options or None,
        project=project.name,
        model=job.model or None,
    )


def create(
    store: Store,
    project_name: str,
    labeler_name: str,
    *,
    llm: str = "",
    model: str = "",
    docs: str | Sequence[str] = "unlabeled",
    classes: list[str] | None = None,
    options: dict[str, Any] | None = None,
    budget_usd: float | None = None,
    limit: int | None = None,
    below: float | None = None,
    refresh: bool = False,
    retrain_every: int | None = None,
) -> int:
    """Persist a job over the chosen documents (skipping those a user label settles and, with
    ``below``, those a cheap labeler is confident about). With ``refresh`` (free labelers) the
    job labels documents it has pending suggestions on too, and replaces those. With
    ``retrain_every`` N (the embedded labeler) it starts a chain: once it succeeded and N more
    labels arrived, the server or a worker follows it with a refreshed job (``jobs.refit``)."""
    if budget_usd is not None and budget_usd <= 0:
        raise LabelwiseError("the budget must be a positive amount of USD")
    chain: dict[str, Any] = {}
    if retrain_every is not None:
        from labelwise.jobs.refit import chain_options
        from labelwise.labelers import labeler_class

        if labeler_class(labeler_name).name != "embedding" or retrain_every < 1:
            raise LabelwiseError(
                "refitting every N labels is for the embedded labeler, with N at least 1"
            )
        chain = chain_options(store, project_name, retrain_every)
    labeler = make_labeler(
        store,
        labeler_name,
        llm=llm or None,
        options=options or None,
        project=project_name,
        model=model or None,
    )
    labeler.check()
    with store.session() as session:
        project = get_project(session, project_name)
        build_task(session, project, classes)  # validates the classes
        ids, _ = select_documents(session, project, docs, labeler, below=below, refresh=refresh)
        ids = ids[:limit] if limit is not None else ids
        job = svc.create_job(
            session,
            project,
            ids,
            labeler=labeler.name,
            llm=llm,
            model=model,
            classes=classes,
            options={**(options or {}), **({REFRESH: True} if refresh else {}), **chain},
            budget_usd=budget_usd,
        )
        return job.id


def worker_name() -> str:
    """This process, as named in the claims it makes."""
    host, pid = here()
    return f"{host}:{pid}:{uuid.uuid4().hex[:6]}"


def run(
    store: Store,
    job_id: int,
    on_progress: Listener | None = None,
    *,
    worker: str | None = None,
    takeover: bool = False,
    claim_timeout: float = CLAIM_TIMEOUT,
) -> Job:
    """Work through a job's pending documents, keeping the connection's concurrency in flight
    and committing each request's answers as they arrive; returns the job as it ended.

    Documents are claimed a page at a time under ``worker``'s name and the claims renewed while
    the work goes on, so several processes can share a job (``labelwise worker``). With
    ``takeover`` the claims of other processes are released first (``job resume`` after a
    crash). A process that runs out of documents while others still hold claims leaves the job
    running; the last one ends it."""
    worker = worker or worker_name()
    with store.session() as session:
        job = svc.get_job(session, job_id)
        if job.status == JobStatus.SUCCEEDED:
            raise Conflict(f"job {job_id} already succeeded; nothing to do")
        if takeover:
            svc.release(session, job_id)
        project = get_project(session, _project_name(session, job))
        labeler = labeler_for(store, job, project)
        task = build_task(session, project, job.classes)
        if takeover or job.status != JobStatus.RUNNING:  # joining a running job keeps its cancel
            job.status, job.reason, job.cancel_requested = JobStatus.RUNNING, "", False
        if takeover:
            job.crashes = 0  # resumed on purpose: count afresh
        job.started_at = job.started_at or utcnow()
        job.heartbeat_at = utcnow()
        project_name = project.name
        refresh = bool((job.options or {}).get(REFRESH))
        budget = Budget(job.budget_usd, job.cost_usd) if job.budget_usd is not None else None
    labeler.budget = budget  # every request reserves its worst case before it is sent
    if isinstance(labeler, OpenAILabeler) and labeler.options.batch:
        try:
            return run_batch(
                store,
                job_id,
                labeler,
                task,
                project_name,
                worker,
                budget,
                on_progress,
                claim_timeout=claim_timeout,
            )
        except ProviderRefused as exc:
            with store.session() as session:
                svc.release(session, job_id, worker)
                job = svc.get_job(session, job_id)
                job.status, job.reason, job.finished_at = JobStatus.FAILED, str(exc), utcnow()
                return job
        except BaseException:
            with store.session() as session:
                svc.release(session, job_id, worker)
            raise
    if labeler.wants_survey(task):  # the whole job's documents, done or not: a resumed job
        with store.session() as session:  # adapts from the same sample
            job_documents = svc.document_ids(session, job_id)
        survey(store, labeler, task, job_documents, seed=job_id)
    loop = LabelingLoop(labeler, task)
    started, processed = time.perf_counter(), 0
    reason = ""
    queue: deque[DocInput] = deque()  # claimed documents, read a page at a time

    def still_on() -> bool:
        """Once a wave: stop on a cancel request or when another worker ended the job."""
        nonlocal reason
        with store.session() as session:
            current = svc.get_job(session, job_id)
            if current.cancel_requested:
                reason = "cancelled"
            elif current.status in svc.FINAL:  # another worker ended it (budget, cancel)
                reason = "ended"
            if budget is not None:
                budget.sync(current.cost_usd)  # what other workers of the job spent
        return not reason

    def take(n: int) -> list[DocInput]:
        """The next ``n`` documents, claiming the next page when fewer are queued."""
        if len(queue) < n:
            with store.session() as session:
                page = svc.claim_items(
                    session, job_id, worker, n * loop.in_flight, stale_after=claim_timeout
                )
            if page:
                inputs_page, _ = load_inputs(store, [doc for _, doc in page])
                by_id = {d.id: d for d in inputs_page}
                queue.extend(by_id[doc] for _, doc in page if doc in by_id)
                gone = [doc for _, doc in page if doc not in by_id]  # deleted since it began
                if gone:
                    with store.session() as session:
                        svc.record(session, job_id, results([], gone), 0, 0.0)
        return [queue.popleft() for _ in range(min(n, len(queue)))]

    def store_answers(answered: list[Answered]) -> None:
        """Commit a wave's answers in one transaction and tell the listeners."""
        nonlocal processed
        with store.session() as session:
            project = get_project(session, project_name)
            # first: an answer naming a class the task lacks becomes a failure here
            news = [to_suggestions(task, labeler, wave.outcomes, job_id) for wave in answered]
            if refresh:  # the old pending suggestions of the answered documents make way
                rules.replace_pending(session, project, labeler.name, answered_ids(answered))
            for wave, new in zip(answered, news, strict=True):
                paid = (
                    cost(
                        labeler.price_model,
                        sum(o.prompt_tokens for o in wave.outcomes),
                        sum(o.completion_tokens for o in wave.outcomes),
                    )
                    or 0.0
                )
                rules.add_suggestions(session, project, new)
                svc.record(session, job_id, results(wave.outcomes, wave.ids), len(new), paid)
                processed += len(wave.ids)
            job = svc.get_job(session, job_id)
            _show_retrying(job, labeler)
            figures = JobProgress.of(job, processed / max(time.perf_counter() - started, 1e-9))
        if on_progress:
            on_progress(figures)

    def beat() -> None:
        """Still alive: renew the claims (and say what is being retried)."""
        with store.session() as session:
            svc.heartbeat(session, job_id, worker)
            _show_retrying(svc.get_job(session, job_id), labeler)

    try:
        if not labeler.needs_network:  # a local labeler that learns from the labels checks itself
            check_held_out(store, project_name, labeler, task, job_id)
        stopped = loop.run(
            take, store_answers, keep_going=still_on, beat=beat, beat_every=claim_timeout / 4
        )
    except ProviderRefused as exc:  # every request would be refused: stop the job at once
        with store.session() as session:
            svc.release(session, job_id, worker)
            job = svc.get_job(session, job_id)
            job.status, job.reason, job.finished_at = JobStatus.FAILED, str(exc), utcnow()
            return job
    except BaseException:  # Ctrl-C, a store error: let others take what this process held
        with store.session() as session:
            svc.release(session, job_id, worker)
        raise
    if stopped == Stopped.BUDGET:
        reason = "budget"

    return finish(store, job_id, worker, reason)


RETRYING = "retrying after"
RETRY_NEWS = 30.0  # seconds a retry stays news on the job


def _show_retrying(job: Job, labeler: Labeler) -> None:
    """Put the labeler's latest retry (the provider's error, the next try) in the running job's
    reason while it is recent; clear it once requests go through again."""
    said = labeler.retrying
    if said is not None and time.monotonic() - said[0] < RETRY_NEWS:
        job.reason = said[1]
    elif job.reason.startswith(RETRYING):
        job.reason = ""


def set_budget(store: Store, job_id: int, budget_usd: float | None) -> None:
    """Raise (or set) a job's budget, e.g. to resume one that reached it."""
    if budget_usd is None:
        return
    with store.session() as session:
        job = svc.get_job(session, job_id)
        if budget_usd <= job.cost_usd:
            raise LabelwiseError(
                f"job {job_id} has spent ${job.cost_usd:.4f}; a budget of ${budget_usd:.4f} "
                "leaves nothing to spend: give a higher one"
            )
        job.budget_usd = budget_usd


def _rate(job: Job) -> float:
    """Documents per second over the job's life so far (or until it ended)."""
    if job.started_at is None:
        return 0.0
    seconds = (as_utc(job.finished_at or utcnow()) - as_utc(job.started_at)).total_seconds()
    return round((job.done + job.failed) / seconds, 2) if seconds > 0 else 0.0


def _project_name(session: Any, job: Job) -> str:
    project = session.get(Project, job.project_id)
    assert project is not None
    return str(project.name)


def show(store: Store, job_id: int) -> dict[str, Any]:
    """One job as the CLI and API show it."""
    with store.session() as session:
        return public(session, svc.get_job(session, job_id))


def project_jobs(store: Store, project_name: str) -> list[dict[str, Any]]:
    """A project's jobs as the CLI and API show them, newest first."""
    with store.session() as session:
        project = get_project(session, project_name)
        return [public(session, j) for j in svc.list_jobs(session, project)]


def shown_status(job: Job, now: datetime | None = None) -> JobStatus:
    """The status to show: a running job whose processes stopped beating for
    :data:`CLAIM_TIMEOUT` seconds (killed, machine lost) reads ``interrupted`` until a worker,
    the server or ``job resume`` takes it up again."""
    status = JobStatus(job.status)
    if status != JobStatus.RUNNING or job.heartbeat_at is None:
        return status
    quiet = ((now or utcnow()) - as_utc(job.heartbeat_at)).total_seconds()
    return JobStatus.INTERRUPTED if quiet > CLAIM_TIMEOUT else status


def public(session: Any, job: Job) -> dict[str, Any]:
    """A job as the CLI and API show it."""
    return {
        "id": job.id,
        "project": _project_name(session, job),
        "status": shown_status(job),
        "labeler": job.labeler,
        "llm": job.llm,
        "model": job.model,
        "classes": job.classes,
        "options": job.options,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "pending": job.total - job.done - job.failed,
        "suggestions": job.suggestions,
        "prompt_tokens": job.prompt_tokens,
        "completion_tokens": job.completion_tokens,
        "cost_usd": round(job.cost_usd, 6),
        "docs_per_second": _rate(job),
        "budget_usd": job.budget_usd,
        "reason": job.reason,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "refit_waiting": svc.refit_waiting(job),
        "failures": svc.failures(session, job.id),
        "review": rules.outcomes(session, session.get(Project, job.project_id)).get(
            f"job:{job.id}", {"accepted": 0, "rejected": 0, "discarded": 0}
        ),
    }
