"""Refit chains: an embedded autolabel job started with ``retrain_every`` N is followed, once N
more labels have arrived, by a refreshed job that refits the labeler on all of them and replaces
its pending suggestions, and so on, run by the server or any ``labelwise worker``.

A chain lives in the jobs' options (``retrain_every``, ``labels_at``: the project's labels when
the job was made, ``followed_by``: the job that continued it); it ends when its last job did not
succeed, when another embedded job is started after it, or when its last job is cancelled
(``job cancel`` on a job that ended stops the chain)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select

from labelwise.autolabel import labels_in
from labelwise.domain import LabelwiseError
from labelwise.store import Store
from labelwise.store.jobs import FOLLOWED_BY, LABELS_AT, RETRAIN_EVERY, refit_waiting
from labelwise.store.jobs import chain_is_open as is_open
from labelwise.store.labels import count_labels
from labelwise.store.models import Job, Project

log = logging.getLogger("labelwise.jobs")
CLAIMED = -1  # followed_by while a worker makes the next job


def chain_options(store: Store, project_name: str, every: int) -> dict[str, Any]:
    """The options that make a job a link of a chain refitting every ``every`` labels."""
    return {RETRAIN_EVERY: every, LABELS_AT: labels_in(store, project_name)}


def continue_refits(store: Store) -> list[int]:
    """Make the next job of every chain that is due (its last job succeeded, and the project has
    gained the chain's number of labels since that job was made); returns the new jobs' ids.
    Each chain's last job is claimed under a row lock first, so two workers never both follow
    it."""
    from labelwise.jobs import runner

    with store.session() as session:
        latest = session.scalars(
            select(func.max(Job.id)).where(Job.labeler == "embedding").group_by(Job.project_id)
        ).all()
        due: list[tuple[int, str, int, list[str] | None]] = []
        for job in session.scalars(select(Job).where(Job.id.in_(latest))):
            if not refit_waiting(job):
                continue
            project = session.get(Project, job.project_id)
            every, at = job.options.get(RETRAIN_EVERY), job.options.get(LABELS_AT, 0)
            if not isinstance(every, int) or not isinstance(at, int) or project is None:
                continue
            if count_labels(session, project.id) >= at + every:
                due.append((job.id, project.name, every, job.classes))
    made = []
    for job_id, project_name, every, classes in due:
        with store.session() as session:
            job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).one()
            if not is_open(job):
                continue  # another worker follows it
            job.options = {**job.options, FOLLOWED_BY: CLAIMED}
        try:
            new = runner.create(
                store,
                project_name,
                "embedding",
                classes=classes,
                refresh=True,
                retrain_every=every,
            )
        except LabelwiseError as exc:  # the chain cannot go on (its classes are gone): end it
            log.warning("the refit chain of job %d ends: %s", job_id, exc)
            _set_options(store, job_id, drop=(FOLLOWED_BY, RETRAIN_EVERY))
            continue
        except Exception:  # a busy database: let a later look try again
            _set_options(store, job_id, drop=(FOLLOWED_BY,))
            raise
        _set_options(store, job_id, {FOLLOWED_BY: new})
        made.append(new)
    return made


def _set_options(
    store: Store, job_id: int, put: dict[str, Any] | None = None, drop: tuple[str, ...] = ()
) -> None:
    """Change job ``job_id``'s options: set ``put``, take ``drop`` out."""
    with store.session() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.options = {k: v for k, v in job.options.items() if k not in drop} | (put or {})
