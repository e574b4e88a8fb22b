"""`labelwise worker`: a process that helps run every queued or running job of the store.

Any number of workers, on any machines sharing a PostgreSQL database, claim pending documents
with ``SELECT … FOR UPDATE SKIP LOCKED`` (see ``store.jobs.claim_items``) and renew their claims
while they work; the claims of a worker that dies are taken over after the claim timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import select

from labelwise.domain import ItemStatus, LabelwiseError
from labelwise.jobs import runner
from labelwise.jobs.refit import continue_refits
from labelwise.processes import alive_here
from labelwise.store import Store
from labelwise.store import jobs as svc
from labelwise.store.models import JobItem

log = logging.getLogger("labelwise.jobs")
SKIP_FOR = 300.0  # seconds a worker leaves a job it cannot run (its configuration) to others


def work(
    store: Store,
    *,
    worker: str | None = None,
    poll: float = 2.0,
    claim_timeout: float = runner.CLAIM_TIMEOUT,
    exit_when_idle: bool = False,
    stop: threading.Event | None = None,
    wake: threading.Event | None = None,
    on_job: Callable[[int, str], None] | None = None,
) -> int:
    """Run jobs until ``stop`` is set (or, with ``exit_when_idle``, until no job has work a
    worker can take); returns how many job runs this worker took part in. When idle it looks
    again after ``poll`` seconds, or as soon as ``wake`` is set (a job was queued)."""
    worker = worker or runner.worker_name()
    stop = stop or threading.Event()
    wake = wake or stop
    released = release_dead_local(store)
    if released:
        log.warning("took back %d documents claimed by processes that died", released)
    runs = 0
    unable: dict[int, float] = {}  # job -> until when this worker leaves it to others
    while not stop.is_set():
        continue_refits(store)  # chains of refits that are due (jobs.refit)
        with store.session() as session:
            now = time.monotonic()
            ids = [j for j in svc.jobs_with_work(session, claim_timeout) if unable.get(j, 0) < now]
        for job_id in ids:
            if stop.is_set():
                break
            try:
                status = runner.run(
                    store, job_id, worker=worker, claim_timeout=claim_timeout
                ).status
            except LabelwiseError as exc:  # e.g. no API key here: its documents stay pending
                unable[job_id] = time.monotonic() + SKIP_FOR
                status = f"left to other workers for {SKIP_FOR:.0f} s: {exc}"
            runs += 1
            if on_job:
                on_job(job_id, status)
        if not ids:
            if exit_when_idle:
                break
            wake.wait(poll)
            if wake is not stop:
                wake.clear()
    return runs


def release_dead_local(store: Store) -> int:
    """Release at once the claims of processes of this machine that no longer exist (the
    claims of other machines' processes expire after the claim timeout)."""
    released = 0
    with store.session() as session:
        holders = session.execute(
            select(JobItem.job_id, JobItem.claimed_by)
            .where(JobItem.status == ItemStatus.PENDING, JobItem.claimed_by != "")
            .distinct()
        ).all()
        for job_id, holder in holders:
            host, _, rest = holder.partition(":")
            pid = rest.partition(":")[0]
            if pid.isdigit() and alive_here(host, int(pid)) is False:
                released += svc.release(session, job_id, holder)
                svc.count_crash(session, job_id)
    return released
