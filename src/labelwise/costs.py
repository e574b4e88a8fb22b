"""Token counts and prices: exact offline counts for OpenAI encodings, estimates elsewhere.

Prices are USD per 1M tokens (input, output), from the providers' public list prices; the user
overrides or adds models with ``LABELWISE_PRICES='{"my-model": [0.2, 0.8]}'``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from labelwise.domain import LabelwiseError

PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-35-turbo": (0.50, 1.50),
}
O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "gpt-oss")
CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3")
# per-message framing of the chat format (OpenAI cookbook): 3 tokens a message, 3 to prime
MESSAGE_OVERHEAD = 3
REPLY_OVERHEAD = 3


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens; ``exact`` says whether the count is the model's own encoding."""

    encoding: str
    exact: bool
    count: Callable[[str], int]

    def count_messages(self, messages: Sequence[dict[str, str]]) -> int:
        return (
            sum(MESSAGE_OVERHEAD + self.count(m["content"]) + 1 for m in messages) + REPLY_OVERHEAD
        )


def _estimate(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


@cache
def _quicktok(encoding: str) -> Callable[[str], int]:
    import quicktok

    tokenizer = quicktok.get_encoding(encoding)
    return tokenizer.count  # type: ignore[no-any-return]


def encoding_for(model: str) -> str | None:
    name = model.lower().split("/")[-1]
    if name.startswith(O200K_PREFIXES):
        return "o200k_base"
    if name.startswith(CL100K_PREFIXES):
        return "cl100k_base"
    return None


def token_counter(model: str) -> TokenCounter:
    """An exact counter for OpenAI models, else a 4-characters-a-token estimate."""
    encoding = encoding_for(model)
    if encoding is None:
        return TokenCounter("estimate (4 characters a token)", False, _estimate)
    return TokenCounter(encoding, True, _quicktok(encoding))


def price_table() -> dict[str, tuple[float, float]]:
    table = dict(PRICES)
    raw = os.environ.get("LABELWISE_PRICES")
    if raw:
        try:
            extra = json.loads(raw)
            table.update({str(k): (float(v[0]), float(v[1])) for k, v in extra.items()})
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise LabelwiseError(
                'LABELWISE_PRICES must be JSON like {"model": [input, output]} in USD per 1M '
                f"tokens ({exc})"
            ) from exc
    return table


def price_for(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens: the exact model, else its longest known prefix."""
    table = price_table()
    name = model.lower().split("/")[-1]
    if name in table:
        return table[name]
    matches = [k for k in table if name.startswith(k)]
    return table[max(matches, key=len)] if matches else None


def cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    price = price_for(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
