"""Jobs through the Batch API, against a loopback server that speaks OpenAI's /v1/files and
/v1/batches (and Azure OpenAI's /openai/... shape): every answer mapped back to its document at
half the price, a restart resumes the same batch, an expired batch leaves the rest for a new one,
failed lines fail their documents with the reason, and the budget holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.costs import cost
from labelwise.estimate import estimate_for_connection
from labelwise.jobs import runner
from labelwise.store import Store
from labelwise.store import jobs as svc
from labelwise.store.llm import add_connection
from labelwise.store.models import Suggestion
from tests.helpers import make_project
from tests.llm_server import FakeLLM, Server

DOCS = {f"d{i:02d}": f"ticket {i} about {'abc'[i % 3]}" for i in range(12)}
GOLD = {text: ["abc"[i % 3]] for i, text in enumerate(DOCS.values())}
OPTIONS = {"batch": True, "docs_per_request": 2, "few_shot": 0}


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELWISE_BATCH_POLL", "0.02")
    monkeypatch.setenv("BATCH_TEST_API_KEY", "sk-batch")


@pytest.fixture
def fake() -> FakeLLM:
    return FakeLLM(gold=GOLD)


@pytest.fixture
def server(fake: FakeLLM) -> Iterator[Server]:
    with Server(fake) as s:
        yield s


@pytest.fixture
def project(store: Store, server: Server) -> Store:
    make_project(store, classes=("a", "b", "c"), docs=DOCS)
    with store.session() as s:
        for name, provider, endpoint in (
            ("openai", "openai", server.url + "/v1"),
            ("azure", "azure", server.url),
        ):
            add_connection(
                s,
                name,
                provider,
                endpoint,
                "gpt-4o-mini",
                api_version="2024-10-21",
                api_key_env="BATCH_TEST_API_KEY",
            )
    return store


def billed(fake: FakeLLM) -> tuple[int, int]:
    usage = [r["usage"] for r in fake.requests if r.get("usage")]
    return sum(u["prompt_tokens"] for u in usage), sum(u["completion_tokens"] for u in usage)


@pytest.mark.parametrize("llm", ["openai", "azure"])
def test_a_batch_job_labels_every_document_at_half_price(
    project: Store, fake: FakeLLM, llm: str
) -> None:
    job_id = runner.create(project, "p", "openai", llm=llm, options=OPTIONS)
    job = runner.run(project, job_id)
    assert (job.status, job.done, job.failed) == ("succeeded", 12, 0)
    assert job.batch_id == "batch_1" and len(fake.batches) == 1
    assert [r["path"] for r in fake.requests] == ["batch"] * 6  # 2 documents a request
    endpoint = fake.batches["batch_1"]["endpoint"]
    assert endpoint == ("/chat/completions" if llm == "azure" else "/v1/chat/completions")
    prompt, completion = billed(fake)
    assert (job.prompt_tokens, job.completion_tokens) == (prompt, completion)
    full = cost("gpt-4o-mini", prompt, completion)
    assert full is not None and job.cost_usd == pytest.approx(full / 2)
    with project.session() as s:
        suggested = Counter(s.scalars(select(Suggestion.document_id)))
    assert len(suggested) == 12 and set(suggested.values()) == {1}


def test_the_estimate_prices_a_batch_at_half(project: Store) -> None:
    live = estimate_for_connection(project, "p", "openai", {"few_shot": 0})
    batch = estimate_for_connection(project, "p", "openai", {"few_shot": 0, "batch": True})
    assert batch.batch and not live.batch
    assert batch.prompt_tokens == live.prompt_tokens
    assert live.cost_usd is not None and batch.cost_usd == pytest.approx(live.cost_usd / 2)


def test_a_failed_line_fails_its_documents_with_the_reason(project: Store, fake: FakeLLM) -> None:
    fake.faults.extend(["filter", None, "500"])  # type: ignore[list-item]
    job_id = runner.create(project, "p", "openai", llm="openai", options=OPTIONS)
    job = runner.run(project, job_id)
    assert (job.status, job.done, job.failed) == ("partially_succeeded", 8, 4)
    with project.session() as s:
        failures = svc.failures(s, job_id)
    assert set(failures) == {"content_filter", "provider_error"}


def test_an_expired_batch_leaves_the_rest_for_a_new_one(project: Store, fake: FakeLLM) -> None:
    fake.batch_fate = "expired"  # only the first half of the requests answered
    job_id = runner.create(project, "p", "openai", llm="openai", options=OPTIONS)
    job = runner.run(project, job_id)
    assert (job.status, job.done, job.failed) == ("failed", 6, 0)
    assert "expired" in job.reason and f"job resume {job_id}" in job.reason
    assert job.batch_id is None
    fake.batch_fate = "completed"
    job = runner.run(project, job_id, takeover=True)
    assert (job.status, job.done, job.failed) == ("succeeded", 12, 0)
    assert len(fake.batches) == 2
    second = fake.files[fake.batches["batch_2"]["input_file_id"]].decode()
    assert second.count("custom_id") == 3  # only the six documents left


def test_the_budget_holds_documents_back(project: Store, fake: FakeLLM) -> None:
    job_id = runner.create(
        project, "p", "openai", llm="openai", options=OPTIONS, budget_usd=0.000_04
    )
    job = runner.run(project, job_id)
    assert job.status == "budget_reached" and 0 < job.done < 12
    assert job.cost_usd <= 0.000_04
    with project.session() as s:
        assert svc.pending_count(s, job_id) == 12 - job.done
    runner.set_budget(project, job_id, 1.0)  # job resume --budget: the rest in a new batch
    job = runner.run(project, job_id, takeover=True)
    assert (job.status, job.done, len(fake.batches)) == ("succeeded", 12, 2)
    with project.session() as s:
        suggested = Counter(s.scalars(select(Suggestion.document_id)))
    assert len(suggested) == 12 and set(suggested.values()) == {1}  # none recorded twice


def test_a_restart_waits_for_the_same_batch(
    project: Store, fake: FakeLLM, db_url: str, tmp_path: Path
) -> None:
    """The process that submitted the batch is killed while it waits; `job resume` polls the
    same batch and sends nothing again."""
    fake.batch_polls = 10**9  # the batch stays in progress until we say
    job_id = runner.create(project, "p", "openai", llm="openai", options=OPTIONS)
    env = {
        **os.environ,
        "LABELWISE_DATABASE_URL": db_url,
        "LABELWISE_HOME": str(tmp_path),
        "LABELWISE_BATCH_POLL": "0.05",
    }
    exe = str(Path(sys.executable).with_name("labelwise"))
    proc = subprocess.Popen(
        [exe, "job", "resume", str(job_id)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with project.session() as s:
                if svc.get_job(s, job_id).batch_id:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the batch was never submitted")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    fake.batch_polls = 0
    job = runner.run(project, job_id, takeover=True)
    assert (job.status, job.done) == ("succeeded", 12)
    assert len(fake.batches) == 1 and len(fake.requests) == 6  # nothing sent twice


def test_the_cli_offers_the_batch_api(cli_env: str, project: Store) -> None:
    runner_cli = CliRunner()
    result = runner_cli.invoke(app, ["estimate", "p", "--llm", "openai", "--batch"])
    assert result.exit_code == 0, result.output
    assert "Batch API" in result.stdout
    result = runner_cli.invoke(
        app,
        ["autolabel", "p", "--labeler", "openai", "--llm", "openai", "--batch", "--yes", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert '"batch": true' in result.stdout
