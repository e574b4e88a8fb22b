"""LLM connections, the estimate and `suggest --labeler openai` through the CLI, with the
loopback chat-completions server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.cli.common import get_store
from labelwise.costs import price_for
from labelwise.prompts import classify
from labelwise.tokens import token_counter
from tests.llm_server import FakeLLM, Server

SECRET = "sk-very-secret-value-123"


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


@pytest.fixture
def demo_server(
    runner: CliRunner, cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Server, FakeLLM]]:
    import csv
    from importlib import resources

    from labelwise.demo import create_demo_project

    create_demo_project(get_store())
    sample = resources.files("labelwise") / "data" / "banking77_sample.csv"
    with sample.open(encoding="utf-8") as fh:
        gold = {r["text"]: [r["gold"]] for r in csv.DictReader(fh)}
    fake = FakeLLM(gold=gold)
    monkeypatch.setenv("DEMO_API_KEY", SECRET)
    with Server(fake) as server:
        yield server, fake


def test_llm_connections(runner: CliRunner, cli_env: str) -> None:
    run(
        runner,
        "llm",
        "add",
        "az",
        "--provider",
        "azure",
        "--endpoint",
        "https://x.openai.azure.com",
        "--model",
        "gpt4o-deploy",
        "--api-version",
        "2024-10-21",
        "--price-model",
        "gpt-4o",
        "--rpm",
        "60",
    )
    err = run(
        runner,
        "llm",
        "add",
        "bad",
        "--provider",
        "openai",
        "--endpoint",
        "http://h/v1",
        "--model",
        "m",
        "--api-key-env",
        SECRET,
        code=1,
    )
    assert "not an environment variable name" in err and SECRET not in err
    err = run(
        runner,
        "llm",
        "add",
        "az2",
        "--provider",
        "azure",
        "--endpoint",
        "https://x",
        "--model",
        "m",
        code=1,
    )
    assert "API version" in err
    shown = json.loads(run(runner, "llm", "show", "az", "--json"))
    assert shown["api_key_env"] == "AZURE_OPENAI_API_KEY" and shown["price_model"] == "gpt-4o"
    assert [c["name"] for c in json.loads(run(runner, "llm", "list", "--json"))] == ["az"]
    run(runner, "llm", "remove", "az", "--yes")
    assert json.loads(run(runner, "llm", "list", "--json")) == []
    assert "no LLM connection named 'az'" in run(runner, "llm", "show", "az", code=3)


def test_suggest_with_an_llm_stores_only_valid_classes(
    runner: CliRunner, demo_server: tuple[Server, FakeLLM]
) -> None:
    server, fake = demo_server
    run(
        runner,
        "llm",
        "add",
        "local",
        "--provider",
        "openai",
        "--endpoint",
        server.url + "/v1",
        "--model",
        "gpt-4o-mini",
        "--api-key-env",
        "DEMO_API_KEY",
    )
    fake.faults.extend(["invalid", "malformed"])  # two bad answers among the first requests
    report = json.loads(
        run(
            runner,
            "suggest",
            "demo-banking77",
            "--labeler",
            "openai",
            "--llm",
            "local",
            "--limit",
            "12",
            "--docs-per-request",
            "2",
            "--concurrency",
            "1",
            "--json",
        )
    )
    assert report["documents"] == 12 and report["failed"] == 4
    assert set(report["failures"]) == {"invalid_label", "parse_error"}
    assert report["suggested"] == 8 and report["prompt_tokens"] > 0
    listed = json.loads(run(runner, "suggestions", "demo-banking77", "--limit", "100", "--json"))
    assert len(listed) == 8
    assert all(s["labeler"] == "openai" and s["confidence"] == pytest.approx(0.9) for s in listed)
    store = get_store()
    with store.engine.connect() as conn:  # the key is never written to the database
        dump = "\n".join(
            str(row)
            for table in ("llm_connections", "suggestions")
            for row in conn.execute(text(f"select * from {table}"))
        )
    assert SECRET not in dump and "DEMO_API_KEY" in dump
    # few-shot: the demo has user labels, so requests carry examples
    assert "<example" in fake.requests[-1]["body"]["messages"][-1]["content"]


def test_estimate_counts_exact_tokens_for_gpt_4o_mini(
    runner: CliRunner, demo_server: tuple[Server, FakeLLM]
) -> None:
    server, fake = demo_server
    run(
        runner,
        "llm",
        "add",
        "mini",
        "--provider",
        "openai",
        "--endpoint",
        server.url + "/v1",
        "--model",
        "gpt-4o-mini",
        "--api-key-env",
        "DEMO_API_KEY",
    )
    est = json.loads(
        run(
            runner,
            "estimate",
            "demo-banking77",
            "--llm",
            "mini",
            "--limit",
            "3",
            "--few-shot",
            "0",
            "--json",
        )
    )
    assert fake.requests == []  # nothing sent
    assert (est["documents"], est["requests"], est["exact"]) == (3, 3, True)
    assert est["encoding"] == "o200k_base"
    assert est["price_in"] == 0.15 and est["price_out"] == 0.60
    assert est["cost_usd"] == pytest.approx(
        (est["prompt_tokens"] * 0.15 + est["completion_tokens"] * 0.60) / 1e6
    )
    # the same prompts, sent for real, are what the estimate counted
    run(
        runner,
        "suggest",
        "demo-banking77",
        "--labeler",
        "openai",
        "--llm",
        "mini",
        "--limit",
        "3",
        "--few-shot",
        "0",
        "--concurrency",
        "1",
    )
    billed = sum(r["usage"]["prompt_tokens"] for r in fake.requests)  # as the server billed
    assert billed == est["prompt_tokens"]
    schema = json.dumps(fake.requests[0]["body"]["response_format"]["json_schema"])
    assert (
        est["prompt_tokens"]
        > sum(  # the schema is counted: providers bill it as prompt
            token_counter("gpt-4o-mini").count_messages(r["body"]["messages"])
            for r in fake.requests
        )
        and len(schema) > 100
    )
    text_out = run(runner, "estimate", "demo-banking77", "--llm", "mini", "--few-shot", "0")
    assert "exact, o200k_base" in text_out and "cost: $" in text_out


def test_known_token_counts_and_prices() -> None:
    """Golden counts from OpenAI's own tokenizer (tiktoken), not the counter against itself."""
    counter = token_counter("gpt-4o-mini")
    assert counter.exact and counter.count("hello world") == 2
    cl100k = token_counter("gpt-4").count
    assert cl100k("tiktoken is great!") == 6  # [83, 1609, 5963, 374, 2294, 0]
    assert cl100k("Hello, world!") == 4  # [9906, 11, 1917, 0]
    assert counter.count("Hello, world!") == 4  # o200k: [13225, 11, 2375, 0]
    assert token_counter("gpt-4").encoding == "cl100k_base"
    assert not token_counter("llama-3-8b").exact
    assert price_for("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_for("mystery-model") is None
    messages = classify.render(
        __import__("labelwise.domain", fromlist=["ProjectKind"]).ProjectKind.SINGLE_LABEL,
        [],
        [classify.PromptDoc("1", "x")],
    )
    assert counter.count_messages(messages) > 10


def test_price_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELWISE_PRICES", '{"my-model": [1, 2]}')
    assert price_for("my-model") == (1.0, 2.0)
    monkeypatch.setenv("LABELWISE_PRICES", "not json")
    from labelwise.domain import LabelwiseError

    with pytest.raises(LabelwiseError, match="LABELWISE_PRICES must be JSON"):
        price_for("x")


def test_llm_edit_changes_only_what_is_given(runner: CliRunner, cli_env: str) -> None:
    add = ["llm", "add", "x", "--provider", "openai", "--endpoint", "http://127.0.0.1:9/v1"]
    run(runner, *add, "--model", "m1", "--rpm", "60")
    again = run(runner, *add, "--model", "m1", code=1)
    assert "already exists" in again and "labelwise llm edit x" in again
    run(runner, "llm", "edit", "x", "--model", "m2")
    shown = json.loads(run(runner, "llm", "show", "x", "--json"))
    assert (shown["model"], shown["rpm"], shown["endpoint"]) == ("m2", 60, "http://127.0.0.1:9/v1")
    bad = run(runner, "llm", "edit", "x", "--endpoint", "ftp://nope", code=1)
    assert "http(s) URL" in bad
    shown = json.loads(run(runner, "llm", "show", "x", "--json"))
    assert shown["endpoint"] == "http://127.0.0.1:9/v1"  # a refused change keeps the old one
    run(runner, "llm", "edit", "nope", "--model", "m", code=3)


def test_dry_run_and_estimate_say_what_they_cost_and_leave_out(
    runner: CliRunner, demo_server: tuple[Server, FakeLLM]
) -> None:
    """The dry run shows its own estimate and asks before sending anything; the estimate says
    which documents it leaves out and why, and counts a repeated request as free."""
    server, fake = demo_server
    add = ["llm", "add", "mini", "--provider", "openai", "--endpoint", server.url + "/v1"]
    run(runner, *add, "--model", "gpt-4o-mini", "--api-key-env", "DEMO_API_KEY")
    result = runner.invoke(
        app,
        [
            "autolabel",
            "demo-banking77",
            "--labeler",
            "openai",
            "--llm",
            "mini",
            "--dry-run-on-labeled",
            "3",
            "--few-shot",
            "0",
        ],
    )
    assert result.exit_code == 1 and "dry run estimate: 3 labeled documents" in result.stderr
    assert "send the dry run?" in result.stderr and fake.requests == []  # asked first
    est = json.loads(
        run(
            runner,
            "estimate",
            "demo-banking77",
            "--llm",
            "mini",
            "--docs",
            "all",
            "--few-shot",
            "0",
            "--json",
        )
    )
    assert est["left_out"]["labeled"] > 0 and est["cached"] == 0
    run(
        runner,
        "suggest",
        "demo-banking77",
        "--labeler",
        "openai",
        "--llm",
        "mini",
        "--limit",
        "2",
        "--few-shot",
        "0",
    )
    again = json.loads(
        run(runner, "estimate", "demo-banking77", "--llm", "mini", "--few-shot", "0", "--json")
    )
    assert again["left_out"]["already_suggested"] == 2
    rows = json.loads(run(runner, "suggestions", "demo-banking77", "--json", "--limit", "500"))
    mine = [r for r in rows if r["labeler"] == "openai"]
    run(runner, "reject", "demo-banking77", *[str(r["id"]) for r in mine])
    rejected = json.loads(
        run(runner, "estimate", "demo-banking77", "--llm", "mini", "--few-shot", "0", "--json")
    )
    assert rejected["cached"] == 2  # the same requests were answered before: free
    assert rejected["requests"] == rejected["documents"] - 2
    text = run(runner, "estimate", "demo-banking77", "--llm", "mini", "--few-shot", "2")
    assert "not looked up with few-shot examples" in text


def test_llm_test_reports_what_the_server_supports(
    runner: CliRunner, cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeLLM(gold={"Is this a test? yes": ["yes"]}, supports_logprobs=False)
    monkeypatch.setenv("T_API_KEY", "sk-x")
    with Server(fake) as server:
        run(
            runner,
            "llm",
            "add",
            "t",
            "--provider",
            "openai",
            "--endpoint",
            server.url + "/v1",
            "--model",
            "gpt-4o-mini",
            "--api-key-env",
            "T_API_KEY",
        )
        said = run(runner, "llm", "test", "t")
        assert "answered in" in said and "by gpt-4o-mini" in said
        assert "JSON schema yes" in said and "logprobs no" in said
        shown = json.loads(run(runner, "llm", "test", "t", "--json"))
        assert shown["ok"] and shown["json_schema"] and shown["logprobs"] is False
        assert shown["latency_ms"] >= 0
        # the first try is refused for its logprobs (which eats a fault), the second gets a 404
        fake.faults.extend(["404", "404"])
        err = run(runner, "llm", "test", "t", code=1)
        assert "no model or deployment 'gpt-4o-mini'" in err
    answered = [r for r in fake.requests if r["fault"] is None]
    assert all(len(r["body"]["messages"]) == 2 for r in answered)  # one tiny request each


def test_only_uncertain_sends_the_llm_what_the_cheap_labelers_doubt(
    runner: CliRunner, demo_server: tuple[Server, FakeLLM]
) -> None:
    """--only-uncertain leaves out the documents the embedded labeler already scores at least
    --below (its calibrated score once enough decisions are reviewed), says what that saves,
    and the job sends only the others."""
    from statistics import median

    from sqlalchemy import func, select

    from labelwise.store.models import Document, Suggestion
    from labelwise.store.projects import get_project

    server, _fake = demo_server
    add = ["llm", "add", "mini", "--provider", "openai", "--endpoint", server.url + "/v1"]
    run(runner, *add, "--model", "gpt-4o-mini", "--api-key-env", "DEMO_API_KEY")
    run(runner, "suggest", "demo-banking77", "--labeler", "embedding")
    with get_store().session() as s:
        p = get_project(s, "demo-banking77")
        best = dict(
            s.execute(
                select(Suggestion.document_id, func.max(Suggestion.confidence))
                .join(Document, Document.id == Suggestion.document_id)
                .where(Document.project_id == p.id, Suggestion.labeler == "embedding")
                .group_by(Suggestion.document_id)
            ).all()
        )
    below = round(median(best.values()), 3)
    sure = {d for d, c in best.items() if c >= below}
    assert 0 < len(sure) < len(best)
    common = ["demo-banking77", "--llm", "mini", "--few-shot", "0"]
    everything = json.loads(run(runner, "estimate", *common, "--json"))
    est = json.loads(
        run(runner, "estimate", *common, "--only-uncertain", "--below", str(below), "--json")
    )
    assert est["left_out"]["confident"] == len(sure)
    assert est["documents"] == everything["documents"] - len(sure)
    per_doc = est["cost_usd"] / est["documents"]
    assert est["saved_usd"] == pytest.approx(per_doc * len(sure), rel=1e-3)
    words = run(runner, "estimate", *common, "--only-uncertain", "--below", str(below))
    assert f"{len(sure)} left out: the embedded labeler or a trained model" in words
    # the job sends only the uncertain documents
    run(
        runner,
        "autolabel",
        *common,
        "--labeler",
        "openai",
        "--only-uncertain",
        "--below",
        str(below),
        "--yes",
    )
    with get_store().session() as s:
        sent = set(s.scalars(select(Suggestion.document_id).where(Suggestion.labeler == "openai")))
    assert sent and not sent & sure
    assert sent <= set(best) - sure
    # a free labeler has nothing to save
    out = runner.invoke(
        app, ["suggest", "demo-banking77", "--labeler", "embedding", "--only-uncertain"]
    )
    assert out.exit_code == 1 and "labels every document for free" in out.stderr


def test_only_uncertain_reads_the_calibrated_score(
    runner: CliRunner, demo_server: tuple[Server, FakeLLM]
) -> None:
    """Confident but often wrong: once the reviewed decisions show the embedded labeler's
    high scores are right only half the time, nothing counts as sure at 0.9."""
    from sqlalchemy import select

    from labelwise.store import labels as rules
    from labelwise.store.models import Suggestion

    server, _fake = demo_server
    add = ["llm", "add", "mini", "--provider", "openai", "--endpoint", server.url + "/v1"]
    run(runner, *add, "--model", "gpt-4o-mini", "--api-key-env", "DEMO_API_KEY")
    run(runner, "suggest", "demo-banking77", "--labeler", "embedding")
    common = ["estimate", "demo-banking77", "--llm", "mini", "--few-shot", "0", "--json"]
    raw = json.loads(run(runner, *common, "--only-uncertain", "--below", "0.3"))
    assert raw["left_out"]["confident"] > 0  # raw scores: many are above 0.3
    with get_store().session() as s:
        from labelwise.store.projects import get_project

        p = get_project(s, "demo-banking77")
        ids = list(
            s.scalars(
                select(Suggestion.id)
                .where(Suggestion.labeler == "embedding")
                .order_by(Suggestion.id)
                .limit(60)
            )
        )
        for i, sid in enumerate(ids):  # four of five wrong, whatever the confidence
            if i % 5:
                rules.reject(s, p, sid)
            else:
                rules.accept(s, p, sid)
    calibrated = json.loads(run(runner, *common, "--only-uncertain", "--below", "0.3"))
    assert calibrated["left_out"]["confident"] == 0
