"""What an LLM labeling run will cost, before anything is sent.

The prompts that would be sent are rendered and counted with the model's own encoding (exact
for OpenAI models, offline); the completion is counted from the answer each request would get
with the longest class name (plus a rationale allowance when asked for one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from labelwise.autolabel import load_inputs, plan
from labelwise.costs import BATCH_DISCOUNT, cost, price_for
from labelwise.domain import DocInput, Example, LabelTask, ProjectKind
from labelwise.labelers.openai import RATIONALE_TOKENS, OpenAILabeler
from labelwise.store import Store
from labelwise.tokens import token_counter


@dataclass
class Estimate:
    model: str
    price_model: str
    encoding: str
    exact: bool
    documents: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    price_in: float | None
    price_out: float | None
    cost_usd: float | None
    # chosen documents not sent, by why: labeled, already_suggested (by this model and prompt)
    left_out: dict[str, int] = field(default_factory=dict)
    # of ``documents``, those whose request was answered before (free); None: not checked, as
    # few-shot examples are chosen per request when it is sent
    cached: int | None = None
    batch: bool = False  # priced at the Batch API's rate (half the list price)
    below: float | None = None  # only the documents the cheap labelers score below this
    saved_usd: float | None = None  # what the documents left out as ``confident`` would cost

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def representative_shots(examples: Sequence[Example], k: int) -> list[Example]:
    """k examples of median length, standing in for the ones chosen per request."""
    if k <= 0 or not examples:
        return []
    ordered = sorted(examples, key=lambda e: len(e.text))
    mid = max(0, len(ordered) // 2 - k // 2)
    return ordered[mid : mid + k]


def estimate_for_connection(
    store: Store,
    project_name: str,
    llm: str | None,
    options: dict[str, Any] | None = None,
    *,
    docs: str | Sequence[str] = "unlabeled",
    classes: Sequence[str] | None = None,
    limit: int | None = None,
    below: float | None = None,
) -> Estimate:
    """:func:`estimate` for the LLM labeler of connection ``llm`` with these options."""
    from labelwise.autolabel import make_labeler

    labeler = make_labeler(store, "openai", llm=llm, options=options or None, project=project_name)
    assert isinstance(labeler, OpenAILabeler)
    return estimate(
        store, project_name, labeler, docs=docs, classes=classes, limit=limit, below=below
    )


def estimate(
    store: Store,
    project_name: str,
    labeler: OpenAILabeler,
    *,
    docs: str | Sequence[str] = "unlabeled",
    classes: Sequence[str] | None = None,
    limit: int | None = None,
    below: float | None = None,
) -> Estimate:
    """Tokens and cost of labeling the chosen documents; with ``below``, only those the cheap
    labelers score below it, and what the ones left out would have cost."""
    opts = labeler.options
    price_model = labeler.price_model
    counter = token_counter(price_model)
    task, ids, left_out = plan(store, project_name, labeler, docs, classes, limit, below=below)
    shots = representative_shots(task.examples, opts.few_shot)
    exact_prompts = not shots  # without examples, each request is known before it is sent
    prompt_tokens = completion_tokens = requests = cached = 0
    k = opts.docs_per_request
    step = max(1, 512 // k) * k  # whole requests
    for start in range(0, len(ids), step):
        inputs, _ = load_inputs(store, ids[start : start + step])
        for i in range(0, len(inputs), k):
            chunk = inputs[i : i + k]
            if exact_prompts and not opts.batch and labeler.answered_before(task, chunk, shots):
                cached += len(chunk)  # answered before: free
                continue
            prompt, completion, _ = estimate_inputs(labeler, task, chunk, shots)
            prompt_tokens += prompt
            completion_tokens += completion
            requests += 1
    price = price_for(price_model)
    if price is not None and opts.batch:  # the Batch API's price
        price = (price[0] * BATCH_DISCOUNT, price[1] * BATCH_DISCOUNT)
    spent = cost(price_model, prompt_tokens, completion_tokens, batch=opts.batch)
    skipped = left_out.get("confident", 0)
    saved = None
    if below is not None and spent is not None:  # at the mean cost of a document sent
        saved = round(spent / len(ids) * skipped, 6) if ids else 0.0
    return Estimate(
        model=opts.model,
        price_model=price_model,
        encoding=counter.encoding,
        exact=counter.exact,
        documents=len(ids),
        requests=requests,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        price_in=price[0] if price else None,
        price_out=price[1] if price else None,
        cost_usd=spent,
        left_out=left_out,
        cached=cached if exact_prompts and not opts.batch else None,
        batch=opts.batch,
        below=below,
        saved_usd=saved,
    )


def estimate_inputs(
    labeler: Any,
    task: LabelTask,
    inputs: Sequence[DocInput],
    shots: Sequence[Example] | None = None,
) -> tuple[int, int, str]:
    """Prompt tokens (exact for OpenAI models) and expected completion tokens of labeling
    ``inputs``, and the model they are priced as."""
    opts = labeler.options
    price_model = labeler.price_model
    counter = token_counter(price_model)
    if shots is None:
        shots = representative_shots(task.examples, opts.few_shot)
    longest = max(task.class_names, key=lambda n: counter.count(n))
    prompt = completion = 0
    k = opts.docs_per_request
    for i in range(0, len(inputs), k):
        chunk = inputs[i : i + k]
        prompt += labeler.request_tokens(task, chunk, shots)
        completion += counter.count(_answer(task.kind, chunk, longest))
        completion += RATIONALE_TOKENS * len(chunk) if opts.rationale else 0
    return prompt, completion, price_model


def _answer(kind: ProjectKind, docs: Sequence[DocInput], label: str) -> str:
    key = "label" if kind == ProjectKind.SINGLE_LABEL else "labels"
    value: Any = label if kind == ProjectKind.SINGLE_LABEL else [label]
    return json.dumps({"results": [{"id": str(d.id), key: value} for d in docs]})


def estimate_dry_run(
    store: Store,
    project_name: str,
    labeler: OpenAILabeler,
    n: int,
    classes: Sequence[str] | None = None,
) -> tuple[int, int, int, float | None]:
    """(documents, prompt tokens, expected completion tokens, cost) of ``dry_run`` on ``n``
    user-labeled documents: what checking the labeler first costs, before anything is sent."""
    from labelwise.autolabel import dry_run_inputs

    task, _, _, blind = dry_run_inputs(store, project_name, n, classes)
    prompt, completion, model = estimate_inputs(labeler, task, blind)
    return len(blind), prompt, completion, cost(model, prompt, completion)
