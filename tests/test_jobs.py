"""Autolabel jobs against the loopback chat-completions server: budget, cancel, failures, and
resuming a job whose process was killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.domain import LabelwiseError
from labelwise.jobs import runner
from labelwise.labelers.ratelimit import MARGIN
from labelwise.store import Store
from labelwise.store import jobs as svc
from labelwise.store.llm import add_connection
from labelwise.store.models import Job, Suggestion
from tests.helpers import make_project
from tests.llm_server import FakeLLM, Server

DOCS = {f"d{i:02d}": f"message number {i} about {'abc'[i % 3]}" for i in range(24)}
GOLD = {text: ["abc"[i % 3]] for i, text in enumerate(DOCS.values())}


@pytest.fixture
def fake() -> FakeLLM:
    return FakeLLM(gold={t: [c[0].replace("a", "a")] for t, c in GOLD.items()})


@pytest.fixture
def server(fake: FakeLLM) -> Iterator[Server]:
    with Server(fake) as s:
        yield s


@pytest.fixture
def project(store: Store, server: Server) -> Store:
    make_project(store, classes=("a", "b", "c"), docs=DOCS)
    with store.session() as s:
        add_connection(
            s,
            "local",
            "openai",
            server.url + "/v1",
            "gpt-4o-mini",
            api_key_env="LABELWISE_TEST_NO_API_KEY",
        )
    return store


def start(store: Store, **kw: object) -> int:
    options = {"docs_per_request": 1, "concurrency": 2, "few_shot": 0}
    options.update(kw.pop("options", {}))  # type: ignore[arg-type]
    return runner.create(store, "p", "openai", llm="local", options=options, **kw)  # type: ignore[arg-type]


def test_job_runs_and_records_figures(project: Store, fake: FakeLLM) -> None:
    fake.faults.extend(["invalid"])
    seen = []
    job_id = start(project)
    job = runner.run(project, job_id, seen.append)
    assert (job.status, job.total, job.done, job.failed) == ("partially_succeeded", 24, 23, 1)
    assert job.prompt_tokens > 0 and job.cost_usd > 0
    assert seen[-1].done + seen[-1].failed == 24 and seen[-1].docs_per_second > 0
    with project.session() as s:
        data = runner.public(s, svc.get_job(s, job_id))
        assert data["failures"]["invalid_label"]["count"] == 1
        assert (
            s.scalar(
                select(func.count()).select_from(Suggestion).where(Suggestion.job_id == job_id)
            )
            == 23
        )


def test_resume_can_retry_failed_documents(
    project: Store, fake: FakeLLM, runner_cli: CliRunner
) -> None:
    fake.faults.extend(["invalid"])
    job_id = start(project, limit=6)
    assert runner.run(project, job_id).failed == 1
    result = runner_cli.invoke(app, ["job", "resume", str(job_id), "--retry-failed", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["status"], data["done"], data["failed"]) == ("succeeded", 6, 0)


def test_budget_stops_before_passing_it(project: Store, fake: FakeLLM) -> None:
    job_id = start(project, budget_usd=0.0002)
    job = runner.run(project, job_id)
    assert job.status == "budget_reached" and job.reason.startswith("budget reached")
    assert 0 < job.done < 24 and job.cost_usd <= 0.0002
    assert len(fake.requests) == job.done


def test_budget_holds_with_worst_case_reservations_and_can_be_raised(
    project: Store, fake: FakeLLM
) -> None:
    """Each request reserves its prompt and its max_tokens before it is sent, so the job's
    provider-reported cost never passes the budget even with many requests in flight; the stop
    message gives the job row's own figure; a raised budget lets the job go on."""
    from labelwise.costs import cost

    budget = 0.0002  # the 24 documents cost about $0.00042
    job_id = start(project, budget_usd=budget, options={"concurrency": 8, "few_shot": 0})
    job = runner.run(project, job_id)
    assert job.status == "budget_reached" and 0 < job.done < 24
    reported = sum(
        cost("gpt-4o-mini", r["usage"]["prompt_tokens"], r["usage"]["completion_tokens"]) or 0
        for r in fake.requests
    )
    assert job.cost_usd == pytest.approx(reported) and reported <= budget
    assert f"${job.cost_usd:.4f} spent of ${budget:.4f}" in job.reason
    assert all(r["body"]["max_tokens"] > 0 for r in fake.requests)
    shown = runner.show(project, job_id)
    assert (shown["status"], shown["cost_usd"]) == ("budget_reached", round(job.cost_usd, 6))
    with pytest.raises(LabelwiseError, match="give a higher one"):
        runner.set_budget(project, job_id, job.cost_usd / 2)
    runner.set_budget(project, job_id, 1.0)
    job = runner.run(project, job_id, takeover=True)
    assert (job.status, job.done) == ("succeeded", 24)
    texts = Counter(r["body"]["messages"][-1]["content"] for r in fake.requests)
    assert max(texts.values()) == 1  # nothing sent twice


def test_cancel_between_waves(project: Store, fake: FakeLLM) -> None:
    job_id = start(project, options={"concurrency": 1})

    def cancel_after_three(progress: runner.JobProgress) -> None:
        if progress.done == 3:  # as `labelwise job cancel` would, from another connection
            with project.session() as s:
                assert svc.request_cancel(s, job_id) == svc.Cancelled.REQUESTED

    job = runner.run(project, job_id, cancel_after_three)
    # the calls already handed to the labeler finish (twice the concurrency: one more here)
    assert job.status == "cancelled" and job.done in (3, 4)
    resumed = runner.run(project, job_id)  # a cancelled job can be resumed
    assert resumed.status == "succeeded" and resumed.done == 24
    texts = Counter(r["body"]["messages"][-1]["content"] for r in fake.requests)
    assert max(texts.values()) == 1  # nothing sent twice


def test_job_cli(project: Store, runner_cli: CliRunner) -> None:
    result = runner_cli.invoke(
        app,
        [
            "autolabel",
            "p",
            "--labeler",
            "openai",
            "--llm",
            "local",
            "--few-shot",
            "0",
            "--limit",
            "5",
            "--yes",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["status"], data["done"], data["total"]) == ("succeeded", 5, 5)
    assert "estimate: 5 documents" in result.stderr and "exact" in result.stderr
    listed = json.loads(runner_cli.invoke(app, ["jobs", "p", "--json"]).stdout)
    assert [j["id"] for j in listed] == [data["id"]]
    shown = runner_cli.invoke(app, ["job", "show", str(data["id"])])
    assert "succeeded: 5 done" in shown.stdout
    again = runner_cli.invoke(app, ["job", "resume", str(data["id"])])
    assert again.exit_code == 1 and "already succeeded" in again.stderr
    refused = runner_cli.invoke(app, ["autolabel", "p", "--labeler", "openai", "--llm", "local"])
    assert refused.exit_code == 1 and "--yes" in refused.stderr  # asks; no terminal here


@pytest.fixture
def runner_cli(cli_env: str) -> CliRunner:
    return CliRunner()


def test_resume_after_sigkill(project: Store, fake: FakeLLM, db_url: str, tmp_path: Path) -> None:
    """kill -9 mid-run, then resume: every document done exactly once, none paid twice
    (at most the one request in flight at the kill is sent again)."""
    fake.latency = 0.1
    env = {**os.environ, "LABELWISE_DATABASE_URL": db_url, "LABELWISE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("labelwise")),
            "autolabel",
            "p",
            "--labeler",
            "openai",
            "--llm",
            "local",
            "--few-shot",
            "0",
            "--concurrency",
            "1",
            "--yes",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    job_id = None
    while time.monotonic() < deadline:
        with project.session() as s:
            job = s.scalars(select(Job)).first()
            if job is not None and job.done >= 5:
                job_id = job.id
                break
        time.sleep(0.05)
    assert job_id is not None, "the job did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with project.session() as s:
        job = svc.get_job(s, job_id)
        assert job.status == "running" and job.done < 24  # died mid-run
    job = runner.run(project, job_id, takeover=True)  # as `labelwise job resume` does
    assert (job.status, job.done, job.failed) == ("succeeded", 24, 0)
    with project.session() as s:
        per_doc = Counter(s.scalars(select(Suggestion.document_id)))
    assert len(per_doc) == 24 and set(per_doc.values()) == {1}
    sent = Counter(r["body"]["messages"][-1]["content"] for r in fake.requests)
    assert len(sent) == 24 and sum(sent.values()) <= 25


def test_dry_run_on_labeled_documents(project: Store, fake: FakeLLM) -> None:
    from labelwise.autolabel import dry_run, make_labeler
    from labelwise.store import labels as rules
    from labelwise.store.documents import get_document
    from labelwise.store.projects import get_project

    with project.session() as s:
        p = get_project(s, "p")
        by = {c.name: c for c in p.classes}
        for i, name in enumerate(list(DOCS)[:9]):
            rules.set_labels(s, p, get_document(s, p, name), [by["abc"[i % 3]]])
    fake.faults.extend(["invalid"])
    labeler = make_labeler(
        project, "openai", llm="local", options={"few_shot": 3, "concurrency": 1}
    )
    check = dry_run(project, "p", labeler, 6)
    assert check.documents == 6 and check.failed == 1
    assert check.agreement == pytest.approx(5 / 6)
    assert check.prompt_tokens > 0
    for request in fake.requests:  # a checked document is never its own example
        user = request["body"]["messages"][-1]["content"]
        examples_part, _, doc_part = user.partition("<document ")
        assert doc_part.strip().splitlines()[1] not in examples_part
    with project.session() as s:
        assert s.scalar(select(func.count()).select_from(Suggestion)) == 0


def test_answers_are_cached_so_a_rerun_costs_nothing(project: Store, fake: FakeLLM) -> None:
    from labelwise.autolabel import build_task, load_inputs, make_labeler
    from labelwise.store.projects import get_project

    labeler = make_labeler(project, "openai", llm="local", options={"few_shot": 0})
    with project.session() as s:
        task = build_task(s, get_project(s, "p"))
    inputs, _ = load_inputs(project, [1, 2, 3])
    first = labeler.label(task, inputs)
    labeler.flush()  # answers are written once a wave (the runner flushes)
    assert len(fake.requests) == 3 and all(o.prompt_tokens > 0 for o in first)
    again = make_labeler(project, "openai", llm="local", options={"few_shot": 0})
    second = again.label(task, inputs)
    assert len(fake.requests) == 3  # nothing sent
    assert [o.predictions for o in second] == [o.predictions for o in first]
    assert all(o.prompt_tokens == 0 and o.completion_tokens == 0 for o in second)
    fake.faults.extend(["invalid"])  # failed answers are not cached: a rerun asks again
    other, _ = load_inputs(project, [4])
    assert again.label(task, other)[0].failure == "invalid_label"
    assert again.label(task, other)[0].failure is None and len(fake.requests) == 5


def test_connection_limits_reach_the_labeler(project: Store, server: Server) -> None:
    from labelwise.autolabel import build_task, load_inputs, make_labeler
    from labelwise.store.projects import get_project

    with project.session() as s:
        add_connection(
            s,
            "limited",
            "openai",
            server.url + "/v1",
            "gpt-4o-mini",
            api_key_env="LABELWISE_TEST_NO_API_KEY",
            rpm=600,
            tpm=100_000,
        )
    labeler = make_labeler(project, "openai", llm="limited", options={"few_shot": 0})
    limiter = labeler._limiter  # type: ignore[attr-defined]
    assert (limiter.rpm, limiter.tpm) == (600, 100_000)
    with project.session() as s:
        task = build_task(s, get_project(s, "p"))
    inputs, _ = load_inputs(project, [1, 2])
    before = time.time()
    labeler.label(task, inputs)
    # two requests took two slots, 0.1 s apart; their tokens took theirs
    taken = limiter.schedule.advance(limiter.key + "requests", time.time(), 0.0)
    assert taken >= before + 2 * 0.1 * MARGIN
    tokens = limiter.schedule.advance(limiter.key + "tokens", time.time(), 0.0)
    assert tokens >= before + 2 * 100 * 60 / 100_000 * MARGIN  # 100+ tokens a request


def test_a_job_without_a_heartbeat_reads_interrupted(project: Store, runner_cli: CliRunner) -> None:
    """A running job whose process died (no heartbeat for 60 s) says so everywhere until it
    is taken up again."""
    from datetime import timedelta

    from labelwise.store.models import utcnow

    job_id = start(project)
    with project.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.heartbeat_at = "running", utcnow() - timedelta(seconds=61)
    assert runner.show(project, job_id)["status"] == "interrupted"
    shown = json.loads(runner_cli.invoke(app, ["job", "show", str(job_id), "--json"]).stdout)
    assert shown["status"] == "interrupted"
    assert runner.project_jobs(project, "p")[0]["status"] == "interrupted"
    with project.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.heartbeat_at = utcnow()  # a live worker beats: it reads running again
    assert runner.show(project, job_id)["status"] == "running"
    assert runner.run(project, job_id, takeover=True).status == "succeeded"


def test_a_refused_key_stops_the_job_at_once(project: Store, fake: FakeLLM) -> None:
    """Authentication, permission and missing-model errors end the job with one line; its
    documents stay pending for a resume, none is marked failed."""
    fake.faults.extend(["404"] * 50)
    job_id = start(project, options={"concurrency": 2, "few_shot": 0})
    job = runner.run(project, job_id)
    assert job.status == "failed" and "no model or deployment 'gpt-4o-mini'" in job.reason
    assert "\n" not in job.reason and job.failed == 0 and job.done == 0
    assert len(fake.requests) <= 2  # the requests in flight, nothing more
    fake.faults.clear()
    assert runner.run(project, job_id, takeover=True).status == "succeeded"
