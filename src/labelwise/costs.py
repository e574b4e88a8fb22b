"""Prices of tokens (the counts come from :mod:`labelwise.tokens`).

Prices are USD per 1M tokens (input, output), from the providers' public list prices; the user
overrides or adds models with ``LABELWISE_PRICES='{"my-model": [0.2, 0.8]}'``.
"""

from __future__ import annotations

import json
import os

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
