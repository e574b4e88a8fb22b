"""Refreshed runs of the free labelers (their pending suggestions replaced by a refit's) and
``autolabel --retrain-every`` (a refit each time N more labels arrive), on a real store."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.autolabel import select_documents, suggest, wait_for_labels
from labelwise.cli import app
from labelwise.domain import Conflict, LabelwiseError, SuggestionStatus
from labelwise.jobs import runner
from labelwise.labelers.embedding import EmbeddingLabeler
from labelwise.labelers.openai import OpenAILabeler
from labelwise.store import Store
from labelwise.store import labels as rules
from labelwise.store.classes import add_class
from labelwise.store.documents import get_document
from labelwise.store.embeddings import StoreVectorCache
from labelwise.store.models import Job, Suggestion
from labelwise.store.projects import get_project
from tests.helpers import make_project
from tests.test_embedding_labeler import CLASSES as SPECS
from tests.test_embedding_labeler import DOCS as SHARED_DOCS

CLASSES = {c.name: c.description for c in SPECS}
DOCS = {
    **SHARED_DOCS,
    "w3": "Snow is forecast for the mountains, with temperatures well below zero.",
}


def _project(store: Store, labeled: tuple[str, ...] = ("w1",)) -> None:
    make_project(store, classes=(), docs=DOCS)
    label(store, *labeled)


def label(store: Store, *names: str) -> None:
    """A person labels ``names`` with their right class."""
    with store.session() as s:
        p = get_project(s, "p")
        if not p.classes:
            for name, description in CLASSES.items():
                add_class(s, p, name, description)
            s.flush()
            s.expire(p, ["classes"])
        by_letter = {c.name[0]: c for c in p.classes}
        for n in names:
            rules.set_labels(s, p, get_document(s, p, n), [by_letter[n[0]]])


def pending(store: Store) -> dict[str, list[tuple[int, int | None]]]:
    """Each document's pending embedded suggestions: (id, job)."""
    with store.session() as s:
        p = get_project(s, "p")
        names = {get_document(s, p, n).id: n for n in DOCS}
        got: dict[str, list[tuple[int, int | None]]] = {}
        for row in s.scalars(
            select(Suggestion)
            .where(Suggestion.status == SuggestionStatus.PENDING, Suggestion.labeler == "embedding")
            .order_by(Suggestion.id)
        ):
            got.setdefault(names[row.document_id], []).append((row.id, row.job_id))
        return got


def test_a_refreshed_run_replaces_the_pending_suggestions_and_keeps_decisions(
    store: Store,
) -> None:
    _project(store)
    labeler = EmbeddingLabeler(cache=StoreVectorCache(store))
    assert suggest(store, "p", labeler).suggested == 6
    before = pending(store)
    with store.session() as s:  # a person rejects s1's suggestion and labels s2
        p = get_project(s, "p")
        rules.reject(s, p, before["s1"][0][0])
    label(store, "s2")

    report = suggest(store, "p", labeler, refresh=True)

    # s2 is labeled: not chosen; the others are labeled again, s1 too (its decision stays)
    assert (report.documents, report.skipped, report.suggested) == (5, 0, 5)
    after = pending(store)
    assert set(after) == {"w2", "s1", "c1", "c2", "w3", "s2"}
    for name in ("w2", "c1", "c2", "w3"):
        assert len(after[name]) == 1 and after[name][0][0] > before[name][0][0], name
    assert after["s2"] == before["s2"]  # a labeled document's pending suggestion is not touched
    with store.session() as s:
        rejected = s.get(Suggestion, before["s1"][0][0])
        assert rejected is not None and rejected.status == SuggestionStatus.REJECTED
        counts = rules.outcomes(s, get_project(s, "p"))["labeler:embedding"]
    assert counts == {"accepted": 0, "rejected": 1, "discarded": 4}
    # without refresh, a second run finds nothing to do
    assert suggest(store, "p", labeler).documents == 0


def test_a_refreshed_job_replaces_them_as_it_stores_its_answers(store: Store) -> None:
    _project(store, ("w1", "s1", "c1"))
    first = runner.create(store, "p", "embedding")
    runner.run(store, first)
    assert {j for ids in pending(store).values() for _, j in ids} == {first}
    labeler = EmbeddingLabeler(cache=StoreVectorCache(store))
    with store.session() as s:  # nothing left to label ...
        assert select_documents(s, get_project(s, "p"), "unlabeled", labeler)[0] == []
    second = runner.create(store, "p", "embedding", refresh=True)  # ... unless refreshed
    job = runner.run(store, second)
    assert (job.total, job.done, job.options) == (4, 4, {"refresh": True})
    after = pending(store)
    assert sorted(after) == ["c2", "s2", "w2", "w3"]
    assert all(ids == [(ids[0][0], second)] for ids in after.values()), after
    with store.session() as s:
        counts = rules.outcomes(s, get_project(s, "p"))
    assert counts[f"job:{first}"]["discarded"] == 4


def test_refreshing_is_refused_for_a_labeler_that_costs_money(store: Store) -> None:
    """Replacing paid suggestions would pay twice for them."""
    _project(store)
    paid = OpenAILabeler(
        OpenAILabeler.Options(endpoint="http://127.0.0.1:9/v1", model="gpt-4o-mini")  # type: ignore[call-arg]
    )
    with store.session() as s, pytest.raises(LabelwiseError, match="free labelers"):
        select_documents(s, get_project(s, "p"), "unlabeled", paid, refresh=True)


def test_waiting_for_labels_ends_when_they_arrive_or_when_asked(store: Store) -> None:
    _project(store)
    stop = threading.Event()
    later = threading.Timer(0.3, label, (store, "w2", "s1"))
    later.start()
    started = time.monotonic()
    assert wait_for_labels(store, "p", 3, poll=0.05) == 3
    assert time.monotonic() - started >= 0.25
    threading.Timer(0.2, stop.set).start()
    assert wait_for_labels(store, "p", 10, stop=stop, poll=0.05) is None


def test_retrain_every_is_only_for_the_embedded_labeler(cli_env: str, store: Store) -> None:
    _project(store)
    result = CliRunner().invoke(
        app, ["autolabel", "p", "--labeler", "model", "--model", "m", "--retrain-every", "5"]
    )
    assert result.exit_code == 2
    assert "--retrain-every refits the embedded labeler" in " ".join(result.output.split())
    # queued, the chain is the server's or a worker's to follow; job cancel stops it
    result = CliRunner().invoke(app, ["autolabel", "p", "--retrain-every", "5", "--queue"])
    assert result.exit_code == 0, result.output
    with store.session() as s:
        (job,) = s.scalars(select(Job)).all()
        assert job.status == "queued" and job.options["retrain_every"] == 5
    runner.run(store, job.id)
    result = CliRunner().invoke(app, ["job", "cancel", str(job.id)])
    assert result.exit_code == 0 and "refit chain is stopped" in result.output, result.output
    with store.session() as s:
        assert "retrain_every" not in s.get(Job, job.id).options  # type: ignore[union-attr]
    # a queued job that no worker took yet ends at once
    assert CliRunner().invoke(app, ["autolabel", "p", "--queue"]).exit_code == 0
    with store.session() as s:
        queued = s.scalars(select(Job).where(Job.status == "queued")).one()
    result = CliRunner().invoke(app, ["job", "cancel", str(queued.id)])
    assert result.exit_code == 0 and f"job {queued.id} cancelled" in result.output, result.output


def _lines(stream: object) -> queue.Queue[str]:
    """The lines of a process's stream as they come."""
    got: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            got.put(line)

    threading.Thread(target=read, daemon=True).start()
    return got


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    pytest.fail(f"never printed {text!r}; printed: {''.join(seen)}")


def test_autolabel_retrain_every_refits_each_time_labels_arrive(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    """The CLI stays after its job; two more labels (given elsewhere, here straight into the
    store as the pages would) start a refreshed job that refits on them; Ctrl-C ends it."""
    _project(store, ("w1", "s1", "c1"))
    env = {**os.environ, "LABELWISE_DATABASE_URL": db_url, "LABELWISE_HOME": str(tmp_path)}
    exe = str(Path(sys.executable).with_name("labelwise"))
    proc = subprocess.Popen(
        [exe, "autolabel", "p", "--retrain-every", "2", "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        lines = _lines(proc.stdout)
        _wait_for(lines, "refitting when 2 more arrive", seen)
        first = pending(store)
        assert sorted(first) == ["c2", "s2", "w2", "w3"]
        label(store, "w2")  # one label: not yet
        time.sleep(3)  # longer than the CLI's look every 2 s
        with store.session() as s:
            assert len(s.scalars(select(Job)).all()) == 1
        label(store, "s2")
        _wait_for(lines, "refitting on 5 labels", seen)
        _wait_for(lines, "refitting when 2 more arrive", seen)
        with store.session() as s:
            jobs = s.scalars(select(Job).order_by(Job.id)).all()
            assert [(j.total, j.done, j.options) for j in jobs] == [
                (4, 4, {}),
                (2, 2, {"refresh": True}),
            ]
            second = jobs[1].id
        after = pending(store)
        for name in ("c2", "w3"):  # replaced by the refit's, one each
            assert after[name] == [(after[name][0][0], second)], after
        proc.send_signal(signal.SIGINT)
        _wait_for(lines, "stopped after 1 refits", seen)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_refit_chain_is_followed_once_per_n_labels_by_any_worker(store: Store) -> None:
    """A job made with retrain_every is followed, once it succeeded and N more labels arrived,
    by one refreshed job (two looks make one), which a worker then runs; a cancel on the
    chain's last job ends it."""
    from labelwise.jobs.refit import continue_refits
    from labelwise.jobs.worker import work
    from labelwise.store import jobs as svc

    _project(store, ("w1", "s1", "c1"))
    first = runner.create(store, "p", "embedding", retrain_every=2)
    assert continue_refits(store) == []  # not run yet
    runner.run(store, first)
    label(store, "w2")
    assert continue_refits(store) == []  # one label of two
    label(store, "s2")
    made = continue_refits(store)
    assert len(made) == 1 and continue_refits(store) == []  # followed once
    with store.session() as s:
        old, new = s.get(Job, first), s.get(Job, made[0])
        assert old is not None and new is not None
        assert old.options["followed_by"] == made[0]
        assert new.options == {"refresh": True, "retrain_every": 2, "labels_at": 5}
    assert work(store, exit_when_idle=True, poll=0.01) == 1  # a worker runs it
    with store.session() as s:
        assert svc.get_job(s, made[0]).status == "succeeded"
    label(store, "c2", "w3")
    with store.session() as s:
        # ended: the cancel ends the chain
        assert svc.request_cancel(s, made[0]) == svc.Cancelled.CHAIN_STOPPED
    assert continue_refits(store) == []
    with store.session() as s, pytest.raises(Conflict, match="already ended"):
        svc.request_cancel(s, made[0])


def test_a_refit_chain_whose_classes_are_gone_ends(store: Store) -> None:
    """A chain over named classes, one of which is renamed since: the next job cannot be made,
    so the chain ends (instead of failing at every look)."""
    from labelwise.jobs.refit import continue_refits
    from labelwise.store.classes import rename_class

    _project(store, ("w1", "s1", "c1"))
    first = runner.create(store, "p", "embedding", classes=["weather", "sports"], retrain_every=1)
    runner.run(store, first)
    with store.session() as s:
        rename_class(s, get_project(s, "p"), "sports", "football")
    label(store, "w2")
    assert continue_refits(store) == []
    with store.session() as s:
        job = s.get(Job, first)
        assert job is not None and job.options == {"labels_at": 3}
    assert continue_refits(store) == []
