"""Prices of tokens (the counts come from :mod:`labelwise.tokens`).

Prices are USD per 1M tokens (input, output), from the providers' public list prices; the user
overrides or adds models with ``LABELWISE_PRICES='{"my-model": [0.2, 0.8]}'``.
"""

from __future__ import annotations

import json
import os
import threading

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


BATCH_DISCOUNT = 0.5  # OpenAI's and Azure OpenAI's Batch API bill half the list price


def cost(
    model: str, prompt_tokens: int, completion_tokens: int, *, batch: bool = False
) -> float | None:
    """USD for the tokens at the model's list price (half through the Batch API); None when
    the model has no known price."""
    price = price_for(model)
    if price is None:
        return None
    usd = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
    return usd * BATCH_DISCOUNT if batch else usd


class Budget:
    """A job's money, shared by all requests of a process: a request reserves its worst case
    (its prompt and ``max_tokens`` of answer) before it is sent, and the reservation is settled
    with the provider's reported usage when the answer comes. A request that could pass the
    limit is never started."""

    def __init__(self, limit_usd: float, spent_usd: float = 0.0) -> None:
        self.limit = limit_usd
        self.spent = spent_usd
        self.reserved = 0.0
        self.refused = False  # a request was held back: the job stops at the budget
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> bool:
        with self._lock:
            if self.spent + self.reserved + amount > self.limit + 1e-12:
                self.refused = True
                return False
            self.reserved += amount
            return True

    def settle(self, reserved: float, actual: float) -> None:
        with self._lock:
            self.reserved = max(0.0, self.reserved - reserved)
            self.spent += actual

    def sync(self, stored_spent: float) -> None:
        """Take in what other processes of the job spent (the job row's figure)."""
        with self._lock:
            self.spent = max(self.spent, stored_spent)


class BudgetReached(Exception):
    """A request was not sent: its worst case would pass the job's budget."""
