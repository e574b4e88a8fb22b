"""Team mode: claims with heartbeats, and two `labelwise worker` processes sharing one job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from labelwise.jobs import runner
from labelwise.store import Store
from labelwise.store import jobs as svc
from labelwise.store.llm import add_connection
from labelwise.store.models import JobItem, Suggestion, utcnow
from tests.helpers import make_project
from tests.llm_server import FakeLLM, Server

DOCS = {f"d{i:02d}": f"worker message {i} about {'abc'[i % 3]}" for i in range(40)}


def _connect(store: Store, server: Server) -> None:
    with store.session() as s:
        add_connection(
            s,
            "local",
            "openai",
            server.url + "/v1",
            "gpt-4o-mini",
            api_key_env="LABELWISE_X_API_KEY",
        )


def _cloud(store: Store, key_env: str) -> None:
    """A project and an Azure connection whose key is read from ``key_env``."""
    make_project(store, docs=DOCS)
    with store.session() as s:
        add_connection(
            s,
            "cloud",
            "azure",
            "https://example.openai.azure.com",
            "gpt-4o-mini",
            api_version="2024-10-21",
            api_key_env=key_env,
        )


def _job(store: Store, concurrency: int = 2) -> int:
    options = {"docs_per_request": 1, "concurrency": concurrency, "few_shot": 0}
    return runner.create(store, "p", "openai", llm="local", options=options)


def test_claims_skip_live_ones_and_take_over_stale_ones(store: Store) -> None:
    make_project(store, docs=DOCS)
    job_id = runner.create(store, "p", "embedding")
    with store.session() as s:
        first = svc.claim_items(s, job_id, "A", 5, stale_after=60)
    with store.session() as s:
        rest = svc.claim_items(s, job_id, "B", 100, stale_after=60)
    assert len(first) == 5 and len(rest) == 35 and not {i for i, _ in first} & {i for i, _ in rest}
    with store.session() as s:  # nothing left for a third worker while A and B are alive
        assert svc.claim_items(s, job_id, "C", 100, stale_after=60) == []
        assert svc.jobs_with_work(s, 60) == []
    with store.session() as s:  # A stops renewing: after the timeout its claims are free
        s.execute(
            update(JobItem)
            .where(JobItem.claimed_by == "A")
            .values(claimed_at=utcnow() - timedelta(seconds=120))
        )
    with store.session() as s:
        svc.heartbeat(s, job_id, "B")
        assert svc.jobs_with_work(s, 60) == [job_id]
        taken = svc.claim_items(s, job_id, "C", 100, stale_after=60)
    assert taken == first
    with store.session() as s:
        assert svc.release(s, job_id, "B") == 35
        assert svc.pending_count(s, job_id) == 40


def test_a_worker_finishes_a_job_another_process_left(store: Store) -> None:
    """A job queued for workers (or whose process died) is run to the end by `work`."""
    from labelwise.jobs.worker import work

    make_project(store, docs=DOCS)
    job_id = runner.create(store, "p", "embedding")
    with store.session() as s:  # a dead process holds 10 claims, long expired
        svc.claim_items(s, job_id, "dead", 10, stale_after=60)
        s.execute(update(JobItem).values(claimed_at=utcnow() - timedelta(seconds=600)))
    assert work(store, worker="w1", exit_when_idle=True) == 1
    with store.session() as s:
        job = svc.get_job(s, job_id)
        assert (job.status, job.done) == ("succeeded", 40)
        assert set(s.scalars(select(JobItem.claimed_by))) == {"w1"}


def test_two_worker_processes_share_a_job(store: Store, db_url: str, tmp_path: Path) -> None:
    """Two `labelwise worker` processes on one job: every document done, none sent twice,
    both took part."""
    if db_url.startswith("sqlite"):
        pytest.skip("team mode is for PostgreSQL (SQLite serialises its writers)")
    fake = FakeLLM(gold={t: ["abc"[i % 3]] for i, t in enumerate(DOCS.values())}, latency=0.2)
    with Server(fake) as server:
        make_project(store, docs=DOCS)
        _connect(store, server)
        job_id = _job(store)
        env = {**os.environ, "LABELWISE_DATABASE_URL": db_url, "LABELWISE_HOME": str(tmp_path)}
        exe = str(Path(sys.executable).with_name("labelwise"))
        procs = [
            subprocess.Popen(
                [exe, "worker", "--exit-when-idle", "--poll", "0.2"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 120
        for p in procs:
            p.wait(max(1.0, deadline - time.monotonic()))
            assert p.returncode == 0, p.stderr.read() if p.stderr else ""
    with store.session() as s:
        job = svc.get_job(s, job_id)
        assert (job.status, job.done, job.failed) == ("succeeded", 40, 0)
        workers = Counter(s.scalars(select(JobItem.claimed_by)))
        per_doc = Counter(s.scalars(select(Suggestion.document_id)))
    assert len(workers) == 2 and min(workers.values()) >= 5, workers
    assert len(per_doc) == 40 and set(per_doc.values()) == {1}
    sent = Counter(r["body"]["messages"][-1]["content"] for r in fake.requests)
    assert len(sent) == 40 and max(sent.values()) == 1


def test_a_worker_without_the_key_leaves_the_job_to_others(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job needing an API key this worker's environment lacks: nothing is failed, the
    documents stay pending for a worker that has it, and this one does not spin on it."""
    from labelwise.jobs.worker import work

    _cloud(store, "LABELWISE_TEST_CLOUD_API_KEY")
    monkeypatch.setenv("LABELWISE_TEST_CLOUD_API_KEY", "k")
    job_id = runner.create(store, "p", "openai", llm="cloud", options={"few_shot": 0})
    monkeypatch.delenv("LABELWISE_TEST_CLOUD_API_KEY")
    seen: list[tuple[int, str]] = []
    assert (
        work(store, worker="w", exit_when_idle=True, on_job=lambda j, s: seen.append((j, s))) == 1
    )
    assert (
        len(seen) == 1
        and "left to other workers" in seen[0][1]
        and "LABELWISE_TEST_CLOUD_API_KEY" in seen[0][1]
    )
    with store.session() as s:
        job = svc.get_job(s, job_id)
        assert (job.done, job.failed, svc.pending_count(s, job_id)) == (0, 0, 40)
        assert svc.jobs_with_work(s, 60) == [job_id]  # claims released for others


def test_a_job_is_refused_before_it_is_stored_when_the_key_is_missing(store: Store) -> None:
    from labelwise.domain import LabelwiseError
    from labelwise.store.models import Job

    _cloud(store, "LABELWISE_TEST_CLOUD_UNSET_API_KEY")
    with pytest.raises(LabelwiseError, match="LABELWISE_TEST_CLOUD_UNSET_API_KEY"):
        runner.create(store, "p", "openai", llm="cloud")
    with store.session() as s:
        assert s.scalars(select(Job)).first() is None
