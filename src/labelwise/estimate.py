"""What an LLM labeling run will cost, before anything is sent.

The prompts that would be sent are rendered and counted with the model's own encoding (exact
for OpenAI models, offline); the completion is counted from the answer each request would get
with the longest class name (plus a rationale allowance when asked for one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from labelwise.autolabel import plan
from labelwise.costs import cost, price_for, token_counter
from labelwise.domain import ProjectKind
from labelwise.labelers.base import DocInput, Example
from labelwise.labelers.openai import OpenAILabeler
from labelwise.prompts import classify
from labelwise.store import Store
from labelwise.store.models import Document

RATIONALE_TOKENS = 30  # a one-sentence rationale, measured on gpt-4o-mini answers


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def representative_shots(examples: Sequence[Example], k: int) -> list[Example]:
    """k examples of median length, standing in for the ones chosen per request."""
    if k <= 0 or not examples:
        return []
    ordered = sorted(examples, key=lambda e: len(e.text))
    mid = max(0, len(ordered) // 2 - k // 2)
    return ordered[mid : mid + k]


def estimate(
    store: Store,
    project_name: str,
    labeler: OpenAILabeler,
    *,
    docs: str | Sequence[str] = "unlabeled",
    classes: Sequence[str] | None = None,
    limit: int | None = None,
) -> Estimate:
    opts = labeler.options
    price_model = opts.price_model or opts.model
    counter = token_counter(price_model)
    task, ids, _ = plan(store, project_name, labeler, docs, classes, limit)
    shots = representative_shots(task.examples, opts.few_shot)
    longest = max(task.class_names, key=lambda n: counter.count(n))
    prompt_tokens = completion_tokens = requests = 0
    k = opts.docs_per_request
    for start in range(0, len(ids), 500):
        with store.session() as session:
            rows = (
                session.query(Document)
                .filter(Document.id.in_(ids[start : start + 500]))
                .order_by(Document.id)
                .all()
            )
            inputs = [DocInput(d.id, d.text, d.content_hash) for d in rows]
        for i in range(0, len(inputs), k):
            chunk = inputs[i : i + k]
            prompt_docs = [labeler._prompt_doc(d) for d in chunk]
            messages = classify.render(task.kind, task.classes, prompt_docs, shots, opts.rationale)
            prompt_tokens += counter.count_messages(messages)
            completion_tokens += counter.count(_answer(task.kind, chunk, longest))
            completion_tokens += RATIONALE_TOKENS * len(chunk) if opts.rationale else 0
            requests += 1
    price = price_for(price_model)
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
        cost_usd=cost(price_model, prompt_tokens, completion_tokens),
    )


def _answer(kind: ProjectKind, docs: Sequence[DocInput], label: str) -> str:
    key = "label" if kind == ProjectKind.SINGLE_LABEL else "labels"
    value: Any = label if kind == ProjectKind.SINGLE_LABEL else [label]
    return json.dumps({"results": [{"id": str(d.id), key: value} for d in docs]})
