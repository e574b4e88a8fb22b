"""Small statistics for trusting labels, pure functions: Wilson intervals for a share of correct
answers, and the lowest confidence threshold whose precision holds a target at its lower
bound."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_ONE_SIDED_90 = 1.2815515655446004  # the 90 % one-sided (80 % two-sided) normal quantile
Z_TWO_SIDED_95 = 1.959963984540054


def wilson(correct: float, n: int, z: float = Z_ONE_SIDED_90) -> tuple[float, float]:
    """The Wilson score interval of ``correct / n``; (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Threshold:
    """The lowest confidence whose reviewed decisions above it reach the target precision at
    their lower bound; ``threshold`` is None when none does."""

    threshold: float | None
    precision: float  # of the reviewed decisions at or above the threshold
    interval: tuple[float, float]
    reviewed: int  # reviewed decisions at or above it
    more_needed: int | None  # when refused: decisions still to review, if more can help


def choose_threshold(
    reviewed: Sequence[tuple[float, bool]], target: float, z: float = Z_ONE_SIDED_90
) -> Threshold:
    """``reviewed``: (confidence, was the suggestion right) of every reviewed decision."""
    ordered = sorted(reviewed, key=lambda r: -r[0])
    best: Threshold | None = None
    correct = 0
    for i, (confidence, right) in enumerate(ordered, start=1):
        correct += right
        if i < len(ordered) and ordered[i][0] == confidence:
            continue  # a threshold keeps every decision of the same confidence
        lo, hi = wilson(correct, i, z)
        if lo >= target:
            best = Threshold(confidence, correct / i, (lo, hi), i, None)
    if best is not None:
        return best
    return Threshold(None, *_best_shot(ordered, target, z))


def _best_shot(
    ordered: Sequence[tuple[float, bool]], target: float, z: float
) -> tuple[float, tuple[float, float], int, int | None]:
    """Where the precision is highest (the most confident prefix with at least 5 decisions),
    and how many more decisions like these would make its lower bound reach the target."""
    if not ordered:
        return 0.0, (0.0, 1.0), 0, needed(1.0, target, z)
    correct, best = 0, (0.0, 0, 0)
    for i, (_, right) in enumerate(ordered, start=1):
        correct += right
        if i >= min(5, len(ordered)) and correct / i >= best[0]:
            best = (correct / i, correct, i)
    p, k, n = best
    more = needed(p, target, z)
    return p, wilson(k, n, z), n, None if more is None else max(0, more - n)


def needed(p: float, target: float, z: float = Z_ONE_SIDED_90) -> int | None:
    """Decisions with precision ``p`` needed before the lower bound reaches ``target``; None
    when ``p`` itself is below the target (more reviews cannot help)."""
    if p < target or p <= 0:
        return None
    if p == target and p < 1:
        return None  # the bound only approaches the target
    lo, hi = 1, 1_000_000
    if wilson(p * hi, hi, z)[0] < target:
        return None
    while lo < hi:  # the lower bound grows with n at a fixed precision
        mid = (lo + hi) // 2
        if wilson(p * mid, mid, z)[0] >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo
