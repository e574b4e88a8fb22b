"""LLM labeler for OpenAI, Azure OpenAI and any OpenAI-compatible server (vLLM, Ollama,
llama.cpp server, LM Studio) through the official ``openai`` SDK.

Transport only: prompts are rendered and answers parsed by :mod:`labelwise.prompts.classify`.
Output is constrained to the class names with a strict JSON schema where the server supports
it, stepping down to ``json_object`` and then plain text when the server refuses. Confidence is
the probability of the chosen class's tokens when the server returns logprobs, else
:data:`FALLBACK_CONFIDENCE` (the suggestion says which).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labelwise.costs import BudgetReached, cost, price_for
from labelwise.domain import (
    ClassSpec,
    DocInput,
    Example,
    FailureReason,
    LabelTask,
    LabelwiseError,
    ProjectKind,
    ProviderRefused,
    check_key_env,
    redact,
)
from labelwise.labelers.base import Labeler, Outcome, Prediction
from labelwise.labelers.ratelimit import AdaptiveGate, RateLimiter, Schedule
from labelwise.prompts import classify
from labelwise.settings import Settings
from labelwise.tokens import count_request, token_counter

FALLBACK_CONFIDENCE = 0.7


class AnswerCache(Protocol):
    """Model answers by a hash of (connection, model, prompt version, prompt)."""

    def get_answer(self, key: str) -> dict[str, Any] | None: ...

    def put_answer(self, key: str, answer: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...


# json_schema: OpenAI/Azure/vLLM structured outputs; json_object_schema: llama.cpp-style
# {"type": "json_object", "schema": ...}; then plain JSON mode; then free text.
MODES = ("json_schema", "json_object_schema", "json_object", "text")
FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "structured")


def retry_after(exc: Any) -> float | None:
    """Seconds a 429 asks to wait (``retry-after-ms`` or ``retry-after`` in seconds), at most a
    minute; None when the answer does not say."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return min(60.0, max(0.0, float(value) / scale))
        except ValueError:  # an HTTP date: fall back to backoff
            return None
    return None


log = logging.getLogger("labelwise")
RATIONALE_TOKENS = 30  # a one-sentence rationale, measured on gpt-4o-mini answers
SHOT_POOL_PER_LABELS = 24  # candidates per label set the few-shot examples are chosen from


def shot_pool(examples: Sequence[Example], per_labels: int) -> list[Example]:
    """The first ``per_labels`` examples of each label set: enough to find similar ones, and
    few enough to embed in seconds (once per job; then from the vector cache)."""
    seen: dict[tuple[str, ...], int] = {}
    pool = []
    for e in examples:
        if seen.get(e.labels, 0) < per_labels:
            seen[e.labels] = seen.get(e.labels, 0) + 1
            pool.append(e)
    return pool


def _keys(n: int) -> list[str]:
    """The ids of a request's documents in the prompt: short, so fewer tokens."""
    return [str(i) for i in range(1, n + 1)]


def _usage(response: Any) -> tuple[int, int]:
    """(prompt, completion) tokens the provider reported for a response (0 when it did not)."""
    usage = getattr(response, "usage", None)
    return (
        int(getattr(usage, "prompt_tokens", 0) or 0),
        int(getattr(usage, "completion_tokens", 0) or 0),
    )


class DeadlinePassed(Exception):
    """A document's deadline passed across its retries (the provider hangs or keeps failing)."""


class RunOptions(BaseModel):
    """What a user tunes per LLM job, declared once with its limits and descriptions: the CLI's
    options, the API's ``options`` field and the job's stored options all derive from it."""

    model_config = ConfigDict(extra="forbid")
    docs_per_request: int = Field(1, ge=1, le=50, description="Documents per request.")
    rationale: bool = Field(False, description="Ask for a one-sentence rationale.")
    few_shot: int = Field(4, ge=0, le=50, description="User-labeled examples per request.")
    concurrency: int = Field(16, ge=1, le=256, description="Requests in flight at once.")
    batch: bool = Field(
        False,
        description="Send the job through the provider's Batch API: half the price, answers "
        "within 24 hours.",
    )


class OpenAILabeler(Labeler):
    """Classify documents with a chat-completions model."""

    name = "openai"
    needs_network = True

    class Options(Labeler.Options, RunOptions):
        provider: Literal["openai", "azure"] = "openai"
        endpoint: str
        model: str
        api_version: str = ""
        api_key_env: str = "OPENAI_API_KEY"
        price_model: str = ""
        instructions: str = ""  # the project's own instructions template ("": the package's)
        max_doc_tokens: int = 2000
        timeout: float = 60.0  # one request
        max_retries: int = 5
        deadline: float = 180.0  # one document, across its retries: a hanging provider is bounded
        logprobs: bool = True
        rpm: int | None = None  # requests per minute allowed on the connection
        tpm: int | None = None  # tokens per minute allowed on the connection

    options: Options

    def __init__(
        self,
        options: Options,
        *,
        encoder: Any = None,
        cache: Any = None,
        answers: AnswerCache | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        super().__init__(options)
        self._client: Any = None
        self._mode = "json_schema"
        self._logprobs = options.logprobs
        self._lock = threading.Lock()
        self._encoder = encoder
        self._cache = cache
        self._answers = answers
        self._counter = token_counter(self.price_model)
        # the connection's limits (or those its headers announce), paced in ``schedule``: the
        # database's in team mode, so that every worker of the connection shares them
        where = hashlib.sha256(f"{options.endpoint}|{options.model}".encode()).hexdigest()[:16]
        self._limiter = RateLimiter(options.rpm, options.tpm, schedule=schedule, key=where + ":")
        self._gate = AdaptiveGate(options.concurrency)
        # unless the limits are stated, the first request goes alone: its answer's headers may
        # announce them before the others collide with them
        self._probed = threading.Event()
        if options.rpm or options.tpm:
            self._probed.set()
        self._prober = threading.Lock()
        self.answered_by = ""  # the model named by the latest answer (Azure: the real one)
        self.gave_logprobs = False  # whether the latest answer came with token logprobs
        self._refused: str | None = None  # why the provider refused: every request would be
        self._shots_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._max_param = "max_tokens"
        self._longest_class: dict[tuple[str, ...], int] = {}
        self._shots: tuple[LabelTask, Any] | None = None

    @property
    def model_id(self) -> str:
        return self.options.model

    @property
    def prompt_version(self) -> str:
        return classify.instructions_version(self.options.instructions)

    @property
    def price_model(self) -> str:
        return self.options.price_model or self.options.model

    # -- transport --------------------------------------------------------------------------

    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:  # the first requests of a job come from many threads
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> Any:
        import openai

        o = self.options
        check_key_env(o.api_key_env, Settings().key_env_names())
        key = os.environ.get(o.api_key_env)
        host = urlparse(o.endpoint).hostname or ""
        if not key:
            if o.provider == "azure" or host.endswith("openai.com"):
                raise LabelwiseError(
                    f"the API key is read from ${o.api_key_env}, which is not set; export it "
                    "in the environment (keys are never stored by labelwise)"
                )
            log.warning(
                "$%s is not set: sending a placeholder key to %s (local servers such as "
                "vLLM, Ollama and llama.cpp take any key)",
                o.api_key_env,
                host,
            )
            key = "unused"
        if o.provider == "azure":
            return openai.AzureOpenAI(
                azure_endpoint=o.endpoint,
                api_version=o.api_version,
                api_key=key,
                azure_deployment=o.model,
                timeout=o.timeout,
                max_retries=0,  # retries are ours (_send), shared with the whole job
            )
        return openai.OpenAI(base_url=o.endpoint, api_key=key, timeout=o.timeout, max_retries=0)

    def messages(
        self,
        task: LabelTask,
        docs: Sequence[DocInput],
        shots: Sequence[Example] = (),
        mode: str | None = None,
    ) -> list[dict[str, str]]:
        """The chat messages for ``docs`` in the given (default: current) output mode; with a
        schema the server enforces, the answer format is not spelled out."""
        mode = mode or self._mode
        return classify.render(
            task.kind,
            task.classes,
            [self._prompt_doc(d, str(i)) for i, d in enumerate(docs, start=1)],
            shots,
            self.options.rationale,
            constrained=mode in ("json_schema", "json_object_schema"),
            instructions=self.options.instructions or None,
        )

    def _create(self, render: Any, task: LabelTask, keys: Sequence[str]) -> Any:
        """One chat completion, stepping down response formats the server refuses."""
        import openai

        while True:
            with self._lock:
                mode, logprobs = self._mode, self._logprobs
            messages = render(mode)
            kwargs: dict[str, Any] = {
                "model": self.options.model,
                "messages": messages,
                "temperature": 0,
            }
            response_format = self._response_format(task, keys, mode)
            if response_format is not None:
                kwargs["response_format"] = response_format
            if logprobs:
                kwargs["logprobs"] = True
            longest = self.max_answer_tokens(task, len(keys))
            with self._lock:
                kwargs[self._max_param] = longest
            billed_format = kwargs.get("response_format") if self.bills_schema else None
            prompt = count_request(self._counter, messages, billed_format)
            tokens = prompt + longest  # for the tokens-per-minute limit
            worst = cost(self.price_model, prompt, longest) or 0.0  # unknown price: not held
            if self.budget is not None and not self.budget.reserve(worst):
                raise BudgetReached(f"a request of up to ${worst:.6f} would pass the budget")
            paid = 0.0
            try:
                response = self._send(kwargs, tokens)
                paid = cost(self.price_model, *_usage(response)) or 0.0
                return response
            except openai.APIStatusError as exc:
                # servers refuse what they lack with 400, 422 or (llama.cpp) 500: step down
                text = str(exc).lower()
                if exc.status_code not in (400, 422, 500) or "content_filter" in text:
                    raise
                with self._lock:
                    if "max_tokens" in text and self._max_param == "max_tokens":
                        self._max_param = "max_completion_tokens"  # reasoning models
                    elif logprobs and "logprob" in text:
                        self._logprobs = False
                    elif mode != "text" and any(w in text for w in FORMAT_WORDS):
                        self._mode = MODES[MODES.index(mode) + 1]
                    else:
                        raise
            finally:
                if self.budget is not None:
                    self.budget.settle(worst, paid)

    def _response_format(
        self, task: LabelTask, keys: Sequence[str], mode: str
    ) -> dict[str, Any] | None:
        """The output constraint sent in ``mode`` (a JSON schema with the class names as an
        enum where the server takes one)."""
        if mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": classify.json_schema(
                    task.kind, task.class_names, keys, self.options.rationale
                ),
            }
        if mode == "json_object_schema":
            schema = classify.json_schema(
                task.kind, task.class_names, keys, self.options.rationale, exact_count=True
            )
            return {"type": "json_object", "schema": schema["schema"]}
        if mode == "json_object":
            return {"type": "json_object"}
        return None

    def request_tokens(
        self, task: LabelTask, docs: Sequence[DocInput], shots: Sequence[Example]
    ) -> int:
        """Prompt tokens of the request for ``docs`` as the provider bills them: the messages
        and the response format's schema."""
        keys = _keys(len(docs))
        messages = self.messages(task, docs, shots)
        return count_request(self._counter, messages, self._billed_format(task, keys, self._mode))

    @cached_property  # the price table is read once per labeler, not on every request
    def bills_schema(self) -> bool:
        """Whether the provider bills the response format's JSON schema as prompt tokens: those
        whose prices the labeler uses (OpenAI, Azure OpenAI) do; a local server (llama.cpp,
        vLLM, Ollama) turns it into a grammar and counts only the messages."""
        return price_for(self.price_model) is not None

    def _billed_format(self, task: LabelTask, keys: Sequence[str], mode: str) -> Any:
        return self._response_format(task, keys, mode) if self.bills_schema else None

    def answered_before(
        self, task: LabelTask, docs: Sequence[DocInput], shots: Sequence[Example]
    ) -> bool:
        """Whether this exact request is in the answer cache (it would cost nothing)."""
        if self._answers is None:
            return False
        keys = _keys(len(docs))
        key = self._cache_key(self.messages(task, docs, shots), task, keys)
        return self._answers.get_answer(key) is not None

    def max_answer_tokens(self, task: LabelTask, documents: int) -> int:
        """``max_tokens`` of a request for ``documents``: the longest answer the schema allows
        (the longest class name, as many classes as a document may get, a rationale), with
        room. It bounds what a request can cost, so a budget can hold."""
        longest = self._longest_class.get(task.class_names)
        if longest is None:  # once per class set, not on every request
            longest = max(self._counter.count(json.dumps(n)) for n in task.class_names)
            self._longest_class[task.class_names] = longest
        labels = 1 if task.kind == ProjectKind.SINGLE_LABEL else min(len(task.classes), 8)
        per_doc = (
            14 + (longest + 2) * labels + (3 * RATIONALE_TOKENS if self.options.rationale else 0)
        )
        return 16 + documents * per_doc

    def check(self) -> None:
        self.client()  # builds the client (the key is read here); connects nothing

    def flush(self) -> None:
        if self._answers is not None:
            self._answers.flush()

    def _send(self, kwargs: dict[str, Any], tokens: int) -> Any:
        """Send one request at its slot of the rate limits, through the adaptive gate.

        A 429 is retried at the pace the provider asks for (``Retry-After``) until the
        document's ``deadline``: it never counts against ``max_retries``. 5xx, timeouts and
        dropped connections are retried up to ``max_retries`` times (exponential backoff with
        jitter); no try outlives the deadline (each try's timeout is cut to what is left)."""
        import openai
        from tenacity import Retrying, retry_if_exception
        from tenacity import wait_exponential_jitter as backoff

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, openai.InternalServerError):
                text = str(exc).lower()  # a server refusing a format or logprobs steps down
                return "logprob" not in text and not any(w in text for w in FORMAT_WORDS)
            return isinstance(
                exc, openai.RateLimitError | openai.APITimeoutError | openai.APIConnectionError
            )

        exponential = backoff(multiplier=0.5, max=20)
        started = time.monotonic()
        failures = 0  # tries that failed for another reason than a 429

        def wait(state: Any) -> float:
            exc = state.outcome.exception()
            pause = float(exponential(state))
            if isinstance(exc, openai.RateLimitError):
                after = retry_after(exc)
                pause = after if after is not None else min(pause, 2.0)
            left = self.options.deadline - (time.monotonic() - started)
            pause = max(0.0, min(pause, left))
            self.retrying = (
                time.monotonic(),
                f"retrying after {self._short(exc)[:160]}; "
                f"try {state.attempt_number + 1} in {pause:.1f} s",
            )
            return pause

        def stop(state: Any) -> bool:
            nonlocal failures
            if time.monotonic() - started >= self.options.deadline:
                return True
            if not isinstance(state.outcome.exception(), openai.RateLimitError):
                failures += 1
            return failures > self.options.max_retries

        for attempt in Retrying(
            retry=retry_if_exception(transient), wait=wait, stop=stop, reraise=True
        ):
            with attempt:
                left = self.options.deadline - (time.monotonic() - started)
                if left <= 0:
                    raise DeadlinePassed(
                        f"no answer within the {self.options.deadline:.0f} s deadline"
                    )
                prober = False
                if not self._probed.is_set():
                    prober = self._prober.acquire(blocking=False)
                    if not prober:
                        self._probed.wait(left)
                self._gate.acquire()
                ok = False
                try:
                    if self._refused is not None:  # refused while this one queued
                        raise ProviderRefused(self._refused)
                    # the slot is waited for right before sending, inside the gate: requests
                    # that queued at the gate never leave together in a burst
                    self._limiter.acquire(tokens)
                    left = self.options.deadline - (time.monotonic() - started)
                    kwargs["timeout"] = max(0.1, min(self.options.timeout, left))
                    raw = self.client().chat.completions.with_raw_response.create(**kwargs)
                    self._limiter.observe(raw.headers)
                    response = raw.parse()
                    ok = True
                except openai.RateLimitError as exc:
                    self._limiter.observe(exc.response.headers)
                    after = retry_after(exc)
                    self._gate.throttled(after if after is not None else 1.0)
                    raise
                finally:
                    self._gate.release(ok=ok)
                    if prober:
                        self._probed.set()
                return response
        raise AssertionError("tenacity either returns or raises")  # pragma: no cover

    # -- labeling ---------------------------------------------------------------------------

    def label(self, task: LabelTask, docs: Sequence[DocInput]) -> list[Outcome]:
        k = self.options.docs_per_request
        chunks = [list(docs[i : i + k]) for i in range(0, len(docs), k)]
        shots = self._shot_selector(task)
        if len(chunks) == 1:  # the job runner sends one request's documents at a time
            results = [self._label_chunk(task, chunks[0], shots)]
        else:
            with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
                results = list(pool.map(lambda c: self._label_chunk(task, c, shots), chunks))
        by_id = {o.doc_id: o for chunk in results for o in chunk}
        return [by_id[d.id] for d in docs]

    def _label_chunk(self, task: LabelTask, docs: list[DocInput], shots: Any) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        pending = docs
        for attempt in range(2):  # a partial answer retries only the missing documents
            try:
                outcomes.update((o.doc_id, o) for o in self._request(task, pending, shots))
            except BudgetReached:
                if attempt == 0:
                    raise  # nothing was sent: the documents stay pending
                break  # the retry of a partial answer: what was answered is kept
            pending = [d for d in pending if outcomes[d.id].failure == FailureReason.MISSING]
            if not pending:
                break
        for o in outcomes.values():
            if o.failure == FailureReason.MISSING:
                o.failure, o.detail = FailureReason.PARSE_ERROR, "no answer for this document"
        return [outcomes[d.id] for d in docs]

    def _request(self, task: LabelTask, docs: list[DocInput], shots: Any) -> list[Outcome]:
        import openai

        keys = _keys(len(docs))
        examples = shots(docs) if shots else []

        def render(mode: str) -> list[dict[str, str]]:
            return self.messages(task, docs, examples, mode)

        key = self._cache_key(render(self._mode), task, keys)
        cached = self._answers.get_answer(key) if self._answers is not None else None
        if cached is not None:  # the same prompt to the same model: answered before, free now
            return self._read(task, docs, keys, cached)
        if self._refused is not None:  # the provider refused before: send nothing more
            raise ProviderRefused(self._refused)
        try:
            response = self._create(render, task, keys)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            self._refused = (
                f"{self._where()} refused the request ({exc.status_code}): {self._short(exc)}; "
                f"check the key in ${self.options.api_key_env} and its access to the model"
            )
            raise ProviderRefused(self._refused) from None
        except openai.NotFoundError as exc:
            self._refused = (
                f"{self._where()} has no model or deployment {self.options.model!r} (404): "
                f"{self._short(exc)}; check the connection's endpoint and model"
            )
            raise ProviderRefused(self._refused) from None
        except openai.BadRequestError as exc:
            if "context_length" in str(exc) or "maximum context length" in str(exc):
                detail = (
                    f"{self._short(exc)}; the prompt is longer than the model's window: lower "
                    "the tokens kept per document, the documents per request or the few-shot "
                    "examples"
                )
                return [
                    Outcome(d.id, failure=FailureReason.CONTEXT_LENGTH, detail=detail) for d in docs
                ]
            reason = (
                FailureReason.CONTENT_FILTER
                if "content" in str(exc).lower() and "filter" in str(exc).lower()
                else FailureReason.PROVIDER_ERROR
            )
            return [Outcome(d.id, failure=reason, detail=self._short(exc)) for d in docs]
        except (DeadlinePassed, openai.APITimeoutError) as exc:
            opts = self.options
            detail = (
                f"{type(exc).__name__}: no answer in time (each try waits up to "
                f"{opts.timeout:g} s, a document at most {opts.deadline:g} s across its tries)"
            )
            return [Outcome(d.id, failure=FailureReason.TIMEOUT, detail=detail) for d in docs]
        except openai.OpenAIError as exc:
            return [
                Outcome(d.id, failure=FailureReason.PROVIDER_ERROR, detail=self._short(exc))
                for d in docs
            ]
        return self._outcomes(task, docs, keys, response, key)

    def _outcomes(
        self, task: LabelTask, docs: list[DocInput], keys: list[str], response: Any, key: str
    ) -> list[Outcome]:
        """The documents' outcomes from a chat completion (answered now or by a batch), its
        answer cached under ``key`` and its usage shared among the documents."""
        prompt_tokens, completion_tokens = _usage(response)
        self.answered_by = str(getattr(response, "model", "") or "")
        choice = response.choices[0] if getattr(response, "choices", None) else None
        answer = {
            "content": choice.message.content if choice else None,
            "finish_reason": choice.finish_reason if choice else "no_choices",
            "tokens": _token_spans(choice) if choice else None,
        }
        self.gave_logprobs = bool(answer["tokens"])
        outcomes = self._read(task, docs, keys, answer)
        if key and self._answers is not None and not any(o.failure for o in outcomes):
            self._answers.put_answer(key, answer)
        for i, o in enumerate(outcomes):  # share the request's usage among its documents
            o.prompt_tokens = prompt_tokens // len(docs) + (i < prompt_tokens % len(docs))
            o.completion_tokens = completion_tokens // len(docs) + (
                i < completion_tokens % len(docs)
            )
        return outcomes

    def _cache_key(
        self, messages: list[dict[str, str]], task: LabelTask, keys: Sequence[str]
    ) -> str:
        """(connection, model, prompt version, prompt, output constraint) as one hash."""
        o = self.options
        material = json.dumps(
            [
                o.provider,
                o.endpoint,
                o.model,
                self.prompt_version,
                messages,
                task.kind.value,
                list(task.class_names),
                list(keys),
                o.rationale,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def _read(
        self, task: LabelTask, docs: list[DocInput], keys: list[str], answer: dict[str, Any]
    ) -> list[Outcome]:
        if answer["finish_reason"] == "no_choices":
            return [
                Outcome(d.id, failure=FailureReason.EMPTY_RESPONSE, detail="no choices")
                for d in docs
            ]
        if answer["finish_reason"] == "content_filter":
            return [
                Outcome(
                    d.id,
                    failure=FailureReason.CONTENT_FILTER,
                    detail="the provider filtered the answer",
                )
                for d in docs
            ]
        content = answer["content"]
        parsed = classify.parse(content, task.kind, task.class_names, keys)
        tokens = [tuple(t) for t in answer["tokens"]] if answer["tokens"] else None
        out = []
        for doc, key in zip(docs, keys, strict=True):
            if parsed.failure:
                out.append(Outcome(doc.id, failure=parsed.failure[0], detail=parsed.failure[1]))
            elif key in parsed.errors:
                reason, detail = parsed.errors[key]
                out.append(Outcome(doc.id, failure=reason, detail=detail))
            elif key not in parsed.labels:
                out.append(Outcome(doc.id, failure=FailureReason.MISSING))
            else:
                preds = []
                source = "logprobs" if tokens else "fixed (server gave no logprobs)"
                for name, span in parsed.labels[key]:
                    if name in doc.exclude:
                        continue
                    conf = _span_probability(tokens, span) if tokens and span else None
                    if conf is None:
                        source = "fixed (server gave no logprobs)"
                    preds.append(
                        Prediction(
                            name,
                            round(conf if conf is not None else FALLBACK_CONFIDENCE, 6),
                            parsed.rationales.get(key),
                        )
                    )
                out.append(Outcome(doc.id, preds, confidence_source=source))
        return out

    def _where(self) -> str:
        host = urlparse(self.options.endpoint).hostname or self.options.endpoint
        return f"the {self.options.provider} endpoint {host}"

    def _short(self, exc: Exception) -> str:
        """The provider's error, short, with the key (and anything shaped like one) redacted:
        some providers echo the key they were sent."""
        key = os.environ.get(self.options.api_key_env, "")
        return redact(f"{type(exc).__name__}: {exc}", [key])[:300]

    # -- a connection's test ----------------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        """Send one tiny classification request and say how it went: latency, the model that
        answered, and whether the server takes a JSON-schema answer format and gives logprobs
        (the labeler steps down to what the server supports)."""
        task = LabelTask(ProjectKind.SINGLE_LABEL, (ClassSpec("yes"), ClassSpec("no")))
        started = time.perf_counter()
        try:
            outcome = self.label(task, [DocInput(0, "Is this a test? yes")])[0]
        except ProviderRefused as exc:
            return {
                "ok": False,
                "detail": str(exc),
                "latency_ms": None,
                "model": None,
                "json_schema": None,
                "logprobs": None,
            }
        latency = (time.perf_counter() - started) * 1000
        # the server answered (even an answer that is not one of the two classes): it works
        answered = outcome.failure not in (
            FailureReason.PROVIDER_ERROR,
            FailureReason.TIMEOUT,
            FailureReason.EMPTY_RESPONSE,
            FailureReason.CONTEXT_LENGTH,
            FailureReason.CONTENT_FILTER,
        )
        return {
            "ok": answered,
            "detail": outcome.detail or "",
            "latency_ms": round(latency),
            "model": self.answered_by or self.options.model,
            "json_schema": self._mode == "json_schema",
            "logprobs": self.gave_logprobs,
        }

    # -- the Batch API (OpenAI /v1/batches; Azure OpenAI global batch has the same shape) ----

    def batch_request(
        self, task: LabelTask, docs: Sequence[DocInput]
    ) -> tuple[dict[str, Any], float]:
        """One line of a batch input file for ``docs`` (its ``custom_id`` names them, so the
        answers map back without any stored table) and its worst case at the batch price."""
        docs = list(docs)
        keys = _keys(len(docs))
        shots = self._shot_selector(task)
        examples = shots(docs) if shots else []
        messages = self.messages(task, docs, examples, "json_schema")
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages,
            "temperature": 0,
            "response_format": self._response_format(task, keys, "json_schema"),
            self._max_param: self.max_answer_tokens(task, len(keys)),
        }
        if self._logprobs:
            body["logprobs"] = True
        billed_format = body["response_format"] if self.bills_schema else None
        prompt = count_request(self._counter, messages, billed_format)
        worst = cost(self.price_model, prompt, body[self._max_param], batch=True) or 0.0
        url = "/chat/completions" if self.options.provider == "azure" else "/v1/chat/completions"
        line = {
            "custom_id": "docs-" + "-".join(str(d.id) for d in docs),
            "method": "POST",
            "url": url,
            "body": body,
        }
        return line, worst

    def submit_batch(self, lines: Sequence[dict[str, Any]]) -> str:
        """Upload the input file and create the batch; its id."""
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        client = self.client()
        uploaded = client.files.create(file=("labelwise-batch.jsonl", data), purpose="batch")
        endpoint = (
            "/chat/completions" if self.options.provider == "azure" else "/v1/chat/completions"
        )
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h"
        )
        return str(batch.id)

    def batch_state(self, batch_id: str) -> Any:
        """The batch as the provider reports it (``status``, ``output_file_id``, ...)."""
        return self.client().batches.retrieve(batch_id)

    def cancel_batch(self, batch_id: str) -> None:
        self.client().batches.cancel(batch_id)

    def batch_lines(self, file_id: str | None) -> list[dict[str, Any]]:
        """The lines of a batch's output or error file (none without a file)."""
        if not file_id:
            return []
        text = self.client().files.content(file_id).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def batch_outcomes(
        self, task: LabelTask, docs: Sequence[DocInput], line: dict[str, Any]
    ) -> list[Outcome]:
        """The documents' outcomes from one line of a batch's output or error file."""
        import openai

        docs = list(docs)
        response = line.get("response") or {}
        body = response.get("body") or {}
        error = line.get("error") or (body.get("error") if isinstance(body, dict) else None)
        if response.get("status_code") != 200 or error:
            detail = str((error or {}).get("message") or f"HTTP {response.get('status_code')}")
            code = str((error or {}).get("code") or "")
            reason = (
                FailureReason.CONTENT_FILTER
                if "content_filter" in code or "content management" in detail
                else FailureReason.CONTEXT_LENGTH
                if "context_length" in code
                else FailureReason.PROVIDER_ERROR
            )
            return [Outcome(d.id, failure=reason, detail=detail[:300]) for d in docs]
        completion = openai.types.chat.ChatCompletion.model_validate(body)
        return self._outcomes(task, docs, _keys(len(docs)), completion, key="")

    # -- prompt parts -----------------------------------------------------------------------

    def _prompt_doc(self, doc: DocInput, key: str) -> classify.PromptDoc:
        """The document, cut to the token budget (head, and a little of the tail)."""
        budget = self.options.max_doc_tokens
        n = self._counter.count(doc.text)
        if n <= budget:
            return classify.PromptDoc(key, doc.text)
        keep = int(len(doc.text) * budget / n)
        head, tail = int(keep * 0.8), int(keep * 0.2)
        text = doc.text[:head] + "\n[…]\n" + (doc.text[-tail:] if tail else "")
        return classify.PromptDoc(key, text, shortened=True)

    def _shot_selector(self, task: LabelTask) -> Any:
        """Pick up to k user-labeled documents most similar to a request's documents, one per
        class first so that the examples are diverse; None without labels or encoder. Built
        once per task: the examples are embedded (or read from the cache) by one thread, and
        every later request of the job reuses their vectors."""
        k = self.options.few_shot
        if k <= 0 or not task.examples:
            return None
        with self._shots_lock:
            if self._shots is None or self._shots[0] is not task:
                self._shots = (task, self._build_selector(task, k))
            return self._shots[1]

    def _build_selector(self, task: LabelTask, k: int) -> Any:
        if self._encoder is None:
            from labelwise.embeddings.registry import ENGLISH, get_encoder

            self._encoder = get_encoder(ENGLISH)
        from labelwise.embeddings import embed_cached

        encoder, cache = self._encoder, self._cache
        examples = shot_pool(task.examples, SHOT_POOL_PER_LABELS)
        vecs = embed_cached(
            encoder, [e.text for e in examples], [e.content_hash for e in examples], cache
        )

        busy = threading.Lock()  # one encoding at a time: parallel ones only fight for cores

        def select(docs: list[DocInput]) -> list[Example]:
            # the request's own documents: encoded in memory, not written to the store's cache
            # (a write per request would queue behind the runner's commits)
            with busy:
                q = encoder.encode([d.text for d in docs]).mean(0)
            order = np.argsort(-(vecs @ q))
            chosen: list[int] = []
            seen: set[tuple[str, ...]] = set()
            for i in order:  # first pass: one per label set
                if examples[i].labels not in seen:
                    chosen.append(int(i))
                    seen.add(examples[i].labels)
                if len(chosen) == k:
                    break
            for i in order:
                if len(chosen) >= k:
                    break
                if int(i) not in chosen:
                    chosen.append(int(i))
            return [examples[i] for i in chosen]

        return select


def _token_spans(choice: Any) -> list[tuple[int, int, float]] | None:
    """(start, end, logprob) of each answer token in the content string, if logprobs came."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    spans = []
    at = 0
    for tok in content:
        text = tok.token if tok.bytes is None else bytes(tok.bytes).decode("utf-8", "replace")
        spans.append((at, at + len(text), float(tok.logprob)))
        at += len(text)
    return spans


def _span_probability(tokens: list[tuple[int, int, float]], span: tuple[int, int]) -> float | None:
    """exp(sum of logprobs) of the tokens that overlap ``span``: the class's probability."""
    start, end = span
    lps = [lp for a, b, lp in tokens if a < end and b > start]
    if not lps:
        return None
    return min(1.0, max(0.0, math.exp(sum(lps))))


def options_from_connection(conn: Any, **overrides: Any) -> OpenAILabeler.Options:
    """Labeler options from a stored LLM connection (and per-run overrides)."""
    return OpenAILabeler.Options(
        provider=conn.provider,
        endpoint=conn.endpoint,
        model=conn.model,
        api_version=conn.api_version,
        api_key_env=conn.api_key_env,
        price_model=conn.price_model,
        rpm=conn.rpm,
        tpm=conn.tpm,
        **overrides,
    )


__all__ = ["FALLBACK_CONFIDENCE", "OpenAILabeler", "RunOptions", "options_from_connection"]
