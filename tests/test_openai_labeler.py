"""The LLM labeler through the unpatched openai SDK against a real loopback HTTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from labelwise.domain import (
    ClassSpec,
    DocInput,
    Example,
    LabelTask,
    LabelwiseError,
    ProjectKind,
    ProviderRefused,
)
from labelwise.labelers.openai import FALLBACK_CONFIDENCE, OpenAILabeler
from tests.llm_server import FakeLLM, Server

CLASSES = tuple(ClassSpec(c) for c in ("billing", "login", "shipping"))
GOLD = {
    "I was charged twice for my order": ["billing"],
    "I cannot sign in to my account": ["login"],
    "Where is my parcel?": ["shipping"],
    "Refund the double charge and fix my password": ["billing", "login"],
}
TEXTS = list(GOLD)
SINGLE = LabelTask(ProjectKind.SINGLE_LABEL, CLASSES)


@pytest.fixture
def fake() -> FakeLLM:
    return FakeLLM(gold=GOLD)


@pytest.fixture
def server(fake: FakeLLM) -> Iterator[Server]:
    with Server(fake) as s:
        yield s


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_API_KEY", "sk-test-secret")


def labeler(server: Server, **kw: object) -> OpenAILabeler:
    opts: dict[str, object] = {
        "endpoint": server.url + "/v1",
        "model": "gpt-4o-mini",
        "api_key_env": "TEST_LLM_API_KEY",
        "max_retries": 2,
        "timeout": 2.0,
        "few_shot": 0,
    }
    opts.update(kw)
    return OpenAILabeler(OpenAILabeler.Options(**opts))  # type: ignore[arg-type]


def docs(*idx: int) -> list[DocInput]:
    return [DocInput(i, TEXTS[i]) for i in idx]


def test_single_label_with_schema_and_logprob_confidence(server: Server, fake: FakeLLM) -> None:
    outs = labeler(server).label(SINGLE, docs(0, 1, 2))
    assert [o.predictions[0].class_name for o in outs] == ["billing", "login", "shipping"]
    for o in outs:
        assert o.predictions[0].confidence == pytest.approx(0.9, abs=1e-6)
        assert o.confidence_source == "logprobs"
        assert o.prompt_tokens > 0 and o.completion_tokens > 0
    body = fake.requests[0]["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert fake.requests[0]["key"] == "Bearer sk-test-secret"


def test_azure_route(server: Server, fake: FakeLLM) -> None:
    lab = labeler(
        server,
        provider="azure",
        endpoint=server.url,
        model="my-deployment",
        api_version="2024-10-21",
    )
    [out] = lab.label(SINGLE, docs(2))
    assert out.predictions[0].class_name == "shipping"
    assert fake.requests[0]["deployment"] == "my-deployment"
    assert fake.requests[0]["key"] == "sk-test-secret"


def test_multi_label(server: Server) -> None:
    task = LabelTask(ProjectKind.MULTI_LABEL, CLASSES)
    [out] = labeler(server).label(task, docs(3))
    assert [p.class_name for p in out.predictions] == ["billing", "login"]
    [partial] = labeler(server).label(task, [DocInput(3, TEXTS[3], exclude=frozenset({"login"}))])
    assert [p.class_name for p in partial.predictions] == ["billing"]


def test_batched_requests_tie_answers_to_documents(server: Server, fake: FakeLLM) -> None:
    outs = labeler(server, docs_per_request=3).label(SINGLE, docs(2, 0, 1))
    assert [o.predictions[0].class_name for o in outs] == ["shipping", "billing", "login"]
    assert len(fake.requests) == 1


def test_partial_answer_retries_only_the_missing_document(server: Server, fake: FakeLLM) -> None:
    fake.faults.extend(["drop"])
    outs = labeler(server, docs_per_request=3).label(SINGLE, docs(0, 1, 2))
    assert [o.predictions[0].class_name for o in outs] == ["billing", "login", "shipping"]
    assert len(fake.requests) == 2
    second = fake.requests[1]["body"]["messages"][-1]["content"]
    assert TEXTS[2] in second and TEXTS[0] not in second


def test_answer_outside_the_class_set_is_a_failure(server: Server, fake: FakeLLM) -> None:
    fake.faults.extend(["invalid"])
    [out] = labeler(server).label(SINGLE, docs(0))
    assert out.failure == "invalid_label" and out.predictions == []
    assert "not_a_class" in out.detail


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("malformed", "parse_error"), ("empty", "empty_response"), ("filter", "content_filter")],
)
def test_broken_answers(server: Server, fake: FakeLLM, fault: str, reason: str) -> None:
    fake.faults.extend([fault])
    [out] = labeler(server).label(SINGLE, docs(0))
    assert out.failure == reason


def test_prose_wrapped_json_is_read(server: Server, fake: FakeLLM) -> None:
    fake.faults.extend(["prose"])
    [out] = labeler(server).label(SINGLE, docs(1))
    assert out.predictions[0].class_name == "login"


def test_429_and_500_are_retried(server: Server, fake: FakeLLM) -> None:
    fake.faults.extend(["429", "500"])
    [out] = labeler(server).label(SINGLE, docs(0))
    assert out.predictions[0].class_name == "billing"
    assert [r["fault"] for r in fake.requests] == ["429", "500", None]


def test_a_429_slows_every_request_down(server: Server, fake: FakeLLM) -> None:
    """One 429 with Retry-After: 1 holds back every request of the labeler for that second
    (not just the one retried), and halves the requests allowed at once."""
    fake.latency = 0.05
    fake.faults.extend(["429:1"])
    lab = labeler(server, concurrency=4)
    outs = lab.label(SINGLE, docs(*range(len(TEXTS))) * 3)
    assert not any(o.failure for o in outs)
    throttled = next(r for r in fake.requests if r["fault"] == "429:1")
    answered = throttled["at"] + 0.05  # when the 429 went back
    later = [r["at"] - answered for r in fake.requests if r["at"] > answered + 0.03]
    assert later and min(later) >= 0.95, later  # nothing new was sent during the pause
    assert lab._gate.throttles == 1


def test_persistent_errors_fail_the_document(server: Server, fake: FakeLLM) -> None:
    fake.faults.extend(["500"] * 3)
    [out] = labeler(server, max_retries=2).label(SINGLE, docs(0))
    assert out.failure == "provider_error" and "InternalServerError" in out.detail


def test_timeout_fails_the_document_with_its_reason(server: Server, fake: FakeLLM) -> None:
    fake.faults.extend(["slow"])
    [out] = labeler(server, max_retries=0, timeout=0.5).label(SINGLE, docs(0))
    assert out.failure == "timeout" and "APITimeoutError" in out.detail


def test_a_hanging_provider_costs_one_deadline_per_document(server: Server, fake: FakeLLM) -> None:
    """Every try hangs; retries go on only until the document's deadline, whatever
    max_retries allows (before: 6 tries x the timeout)."""
    fake.faults.extend(["slow"] * 10)
    start = time.monotonic()
    [out] = labeler(server, max_retries=5, timeout=0.6, deadline=1.5).label(SINGLE, docs(0))
    elapsed = time.monotonic() - start
    assert out.failure == "timeout" and "at most 1.5 s" in out.detail
    assert 1.4 < elapsed < 2.5, elapsed
    assert 1 <= len(fake.requests) <= 3


def test_a_refused_key_stops_with_the_key_redacted(server: Server, fake: FakeLLM) -> None:
    """A 401 is no document's fault: it stops the work with one line, the echoed key hidden."""
    fake.faults.extend(["echo_key"])
    with pytest.raises(ProviderRefused) as exc:
        labeler(server, max_retries=0).label(SINGLE, docs(0))
    message = str(exc.value)
    assert "(401)" in message and "Incorrect API key provided" in message
    assert "sk-test-secret" not in message and "***" in message and "\n" not in message


@pytest.mark.parametrize(("fault", "words"), [("403", "(403)"), ("404", "no model or deployment")])
def test_permission_and_missing_models_stop_the_work(
    server: Server, fake: FakeLLM, fault: str, words: str
) -> None:
    fake.faults.extend([fault])
    with pytest.raises(ProviderRefused, match=words):
        labeler(server, max_retries=3).label(SINGLE, docs(0))
    assert len(fake.requests) == 1  # not retried


def test_context_length_fails_the_document_with_its_reason(server: Server, fake: FakeLLM) -> None:
    fake.faults.extend(["context"])
    [out] = labeler(server, max_retries=3).label(SINGLE, docs(0))
    assert out.failure == "context_length" and "window" in out.detail
    assert len(fake.requests) == 1


def test_servers_without_schema_or_logprobs(server: Server, fake: FakeLLM) -> None:
    fake.supports_schema = False
    fake.supports_logprobs = False
    lab = labeler(server)
    outs = lab.label(SINGLE, docs(0, 1))
    assert [o.predictions[0].class_name for o in outs] == ["billing", "login"]
    assert outs[0].predictions[0].confidence == FALLBACK_CONFIDENCE
    assert outs[0].confidence_source.startswith("fixed")
    formats = [(r["body"].get("response_format") or {}).get("type") for r in fake.requests]
    assert "json_object" in formats and formats[-1] == "json_object"


def test_rationale_and_few_shot(server: Server, fake: FakeLLM) -> None:
    task = LabelTask(
        ProjectKind.SINGLE_LABEL,
        CLASSES,
        examples=(
            Example("My card was billed two times", ("billing",)),
            Example("Password reset does not work", ("login",)),
            Example("The package never arrived", ("shipping",)),
        ),
    )
    [out] = labeler(server, rationale=True, few_shot=2).label(task, docs(1))
    assert out.predictions[0].rationale == "because"
    user = fake.requests[0]["body"]["messages"][-1]["content"]
    assert user.count("<example") == 2 and "Password reset does not work" in user


def test_long_documents_are_shortened(server: Server, fake: FakeLLM) -> None:
    long_text = "word " * 5000
    [out] = labeler(server, max_doc_tokens=200).label(SINGLE, [DocInput(0, long_text)])
    user = fake.requests[0]["body"]["messages"][-1]["content"]
    assert "(shortened)" in user and "[…]" in user and len(user) < 2000
    assert out.failure == "invalid_label" or out.predictions  # gold does not know the text


def test_missing_key_for_azure_is_a_clear_error(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_LLM_API_KEY")
    lab = labeler(server, provider="azure", endpoint=server.url, api_version="2024-10-21")
    with pytest.raises(LabelwiseError, match=r"\$TEST_LLM_API_KEY, which is not set"):
        lab.label(SINGLE, docs(0))


def test_options_forbid_unknown_keys(server: Server) -> None:
    with pytest.raises(ValueError, match="extra"):
        labeler(server, temprature=0.3)


def test_a_local_endpoint_without_its_key_warns_once(
    server: Server, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Local servers take any key, so a placeholder is sent, but never silently."""
    monkeypatch.delenv("TEST_LLM_API_KEY")
    lab = labeler(server)
    with caplog.at_level("WARNING", logger="labelwise"):
        lab.label(SINGLE, docs(0, 1, 2))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "$TEST_LLM_API_KEY is not set" in warnings[0]
    assert fake.requests[0]["key"] == "Bearer unused"
