"""Small statistics for trusting labels, pure functions: Wilson intervals for a share of correct
answers, the lowest confidence threshold whose precision holds a target at its lower bound, and
a labeler's confidences calibrated (isotonic, cross-fitted) to its reviewed decisions."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

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


STRATUM = 10  # reviewed decisions per stratum when the pending suggestions weigh them


def choose_threshold(
    reviewed: Sequence[tuple[float, bool]],
    target: float,
    z: float = Z_ONE_SIDED_90,
    pending: Sequence[float] | None = None,
) -> Threshold:
    """``reviewed``: (confidence, was the suggestion right) of every reviewed decision.

    With ``pending`` (the confidences of the suggestions a threshold would accept), the
    precision above a threshold is the one of *those* suggestions: the reviewed decisions are
    cut into strata of confidence (at least ``STRATUM`` each) and each stratum's precision
    weighs as many times as pending suggestions fall in it. A reviewer who looked only at the
    most confident suggestions then cannot vouch for the less confident ones above the
    threshold (unweighted, they would)."""
    if pending is not None:
        return choose_threshold_by_generation({None: reviewed}, target, {None: pending}, z)
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


def choose_threshold_by_generation(
    reviewed: Mapping[Any, Sequence[tuple[float, bool]]],
    target: float,
    pending: Mapping[Any, Sequence[float]],
    z: float = Z_ONE_SIDED_90,
) -> Threshold:
    """:func:`choose_threshold` weighed by the pending suggestions, when the suggestions come in
    generations (a labeler's jobs: one that learned from more labels, or runs another model,
    means something else by the same confidence). Each generation's pending suggestions are
    vouched for only by the reviewed decisions of that generation, stratified as above; a
    threshold that would accept pending suggestions of a generation with fewer than ``STRATUM``
    reviewed decisions above it is not taken."""
    ordered = {g: sorted(r, key=lambda d: -d[0]) for g, r in reviewed.items()}
    waiting = {g: np.sort(np.asarray(p, dtype=float)) for g, p in pending.items() if len(p)}
    candidates = sorted({c for g in waiting for c, _ in ordered.get(g, [])}, reverse=True)
    best: Threshold | None = None
    for t in candidates:
        parts = [_strata(ordered.get(g, []), w, t) for g, w in waiting.items()]
        if any(part is None for part in parts):
            continue  # a generation with pending suggestions above t nobody vouches for
        found = [part for part in parts if part]
        if not found:
            continue
        weights, n, right = (np.concatenate([part[k] for part in found]) for k in range(3))
        total = float(weights.sum())
        if not total:
            continue
        share = weights / total
        estimate = float((share * right / n).sum())
        smoothed = (right + 1) / (n + 2)
        spread = math.sqrt(float((share * share * smoothed * (1 - smoothed) / n).sum()))
        low = estimate - z * spread
        if low >= target:
            high = min(1.0, estimate + z * spread)
            best = Threshold(float(t), estimate, (max(0.0, low), high), int(n.sum()), None)
    if best is not None:
        return best
    relevant = [d for g in waiting for d in ordered.get(g, [])] or [
        d for r in ordered.values() for d in r
    ]
    return Threshold(None, *_best_shot(sorted(relevant, key=lambda d: -d[0]), target, z))


Strata = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _strata(
    ordered: Sequence[tuple[float, bool]], waiting: npt.NDArray[np.float64], t: float
) -> Strata | tuple[()] | None:
    """One generation at threshold ``t``: per stratum of its reviewed decisions at or above
    ``t`` (``STRATUM`` each from the top, more where decisions of one confidence would be
    parted, as the pending suggestions of that confidence would all weigh on the first part;
    a short last one joins the one above), how many of its pending suggestions weigh on it,
    its decisions and its right ones. ``()`` when none of its pending suggestions reach ``t``;
    None when some do and too few decisions vouch."""
    above = [r for c, r in ordered if c >= t]
    reach_t = len(waiting) - int(np.searchsorted(waiting, t, side="left"))
    if not reach_t:
        return ()
    if len(above) < STRATUM:
        return None
    conf = np.array([c for c, _ in ordered[: len(above)]], dtype=float)
    hits = np.concatenate([[0], np.cumsum(above)])
    cuts = [0]
    while cuts[-1] < len(above):
        end = min(cuts[-1] + STRATUM, len(above))
        while end < len(above) and conf[end] == conf[end - 1]:
            end += 1  # decisions of one confidence stay in one stratum
        cuts.append(end)
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < STRATUM:
        del cuts[-2]  # a short last stratum joins the one above
    starts, ends = np.array(cuts[:-1]), np.array(cuts[1:])
    floors = conf[ends - 1]  # each stratum's lowest confidence, strictly descending
    # a pending suggestion weighs on the highest stratum whose floor is at or below it
    reach = len(waiting) - np.searchsorted(waiting, floors, side="left")
    weights = np.diff(np.concatenate([[0], reach])).astype(float)
    return weights, (ends - starts).astype(float), (hits[ends] - hits[starts]).astype(float)


def _best_shot(
    ordered: Sequence[tuple[float, bool]], target: float, z: float
) -> tuple[float, tuple[float, float], int, int | None]:
    """Where the precision is highest (the most confident prefix with at least 5 decisions),
    and how many more decisions like these would make its lower bound reach the target."""
    if not ordered:
        return 0.0, (0.0, 1.0), 0, needed(1.0, target, z)
    correct, best = 0, (0.0, 0, 0)
    for i, (confidence, right) in enumerate(ordered, start=1):
        correct += right
        if i < len(ordered) and ordered[i][0] == confidence:
            continue  # a threshold keeps every decision of the same confidence
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


# -- calibration: a labeler's confidences fitted to its reviewed decisions ------------------------

MIN_DECISIONS = 30  # reviewed decisions a calibration needs
MIN_EACH = 5  # of them right, and wrong: without both, nothing tells a score's meaning


@dataclass(frozen=True)
class Calibration:
    """How a labeler's confidence maps to the chance its suggestion is right, fitted (isotonic)
    to the project's reviewed decisions. ``xs``/``ys`` are the fitted steps (plain numbers:
    nothing to unpickle); empty when there were too few decisions (``reason`` says so)."""

    reviewed: int
    right: int
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    error: float | None = None  # mean |calibrated - outcome| rate error, cross-fitted (ECE)
    reason: str = ""

    @property
    def fitted(self) -> bool:
        return bool(self.xs)

    def precision(self, confidence: float) -> float | None:
        """The estimated chance that a suggestion of this confidence is right; None when the
        calibration could not be fitted."""
        if not self.xs:
            return None
        return float(np.interp(confidence, self.xs, self.ys))


def _too_few(n: int, right: int) -> bool:
    """Whether ``n`` reviewed outcomes (``right`` of them right) are too few to fit on."""
    return n < MIN_DECISIONS or right < MIN_EACH or n - right < MIN_EACH


def _cross_fitted(
    n: int, folds: int, seed: int, predict: Callable[[Any, Any], Any]
) -> npt.NDArray[np.float64]:
    """Each of ``n`` items scored by ``predict(train, test)`` fitted on the other folds, so
    no item scores itself."""
    order = np.random.default_rng(seed).permutation(n)
    held = np.empty(n)
    for k in range(folds):
        test = order[k::folds]
        held[test] = predict(np.setdiff1d(order, test), test)
    return held


def _isotonic(scores: Any, outcomes: Any, n: int, right: int) -> tuple[Any, Any]:
    from sklearn.isotonic import IsotonicRegression

    # never quite 0 or 1: a handful of decisions cannot prove certainty (Laplace's bounds)
    lo, hi = 1 / (n + 2), (n + 1) / (n + 2)
    model = IsotonicRegression(y_min=lo, y_max=hi, out_of_bounds="clip", increasing=True)
    model.fit(scores, outcomes)
    return model.X_thresholds_, model.y_thresholds_


def calibrate(reviewed: Sequence[tuple[float, bool]], folds: int = 5, seed: int = 0) -> Calibration:
    """Fit a labeler's confidences to its reviewed decisions ((confidence, right) each).

    The reliability figure is cross-fitted: each decision is scored by a calibration fitted on
    the other folds, so no decision scores itself; the steps returned are fitted on all of
    them, for the suggestions still pending."""
    n = len(reviewed)
    right = sum(1 for _, r in reviewed if r)
    if _too_few(n, right):
        return Calibration(
            n,
            right,
            reason=(
                f"{n} reviewed decisions ({right} right, {n - right} wrong): too few to estimate "
                f"precision; it takes {MIN_DECISIONS}, with at least {MIN_EACH} right and "
                f"{MIN_EACH} wrong"
            ),
        )
    scores = np.array([c for c, _ in reviewed], dtype=float)
    outcomes = np.array([1.0 if r else 0.0 for _, r in reviewed])

    def predict(train: Any, test: Any) -> Any:
        xs, ys = _isotonic(scores[train], outcomes[train], len(train), int(outcomes[train].sum()))
        return np.interp(scores[test], xs, ys)

    held = _cross_fitted(n, folds, seed, predict)
    xs, ys = _isotonic(scores, outcomes, n, right)
    return Calibration(
        n,
        right,
        tuple(float(x) for x in xs),
        tuple(float(y) for y in ys),
        expected_calibration_error(held, outcomes),
    )


def expected_calibration_error(predicted: Any, outcomes: Any, bins: int = 10) -> float:
    """The weighted mean gap between the predicted chance and the observed rate, in equal-width
    bins of the prediction."""
    predicted, outcomes = np.asarray(predicted, dtype=float), np.asarray(outcomes, dtype=float)
    which = np.minimum((predicted * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            gap += mask.sum() * abs(predicted[mask].mean() - outcomes[mask].mean())
    return float(gap / max(len(predicted), 1))


@dataclass(frozen=True)
class Agreement:
    """One score per class of a document from every labeler that suggested something for it,
    learned from the reviewed decisions: a logistic model on, per labeler, its calibrated score
    for the class (0 when it did not suggest it) and whether it suggested another class, plus
    how many labelers agree on the class. Plain numbers (nothing to unpickle); no
    coefficients when there were too few decisions (``reason`` says so)."""

    labelers: tuple[str, ...]
    reviewed: int
    right: int
    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    error: float | None = None  # cross-fitted expected calibration error
    reason: str = ""

    @property
    def fitted(self) -> bool:
        return bool(self.coef)

    def score(self, features: Sequence[float]) -> float | None:
        """The chance the class is right given these features (:func:`agreement_features`)."""
        if not self.coef:
            return None
        z = self.intercept + float(np.dot(self.coef, features))
        return 1.0 / (1.0 + math.exp(-z))


def agreement_features(
    labelers: Sequence[str], scores: dict[str, dict[str, float]], cls: str
) -> list[float]:
    """Features of class ``cls`` on one document: ``scores[labeler][class]`` holds each
    labeler's (calibrated) score for the classes it suggested there."""
    own = [scores.get(name, {}).get(cls, 0.0) for name in labelers]
    dissent = [1.0 if any(c != cls for c in scores.get(name, {})) else 0.0 for name in labelers]
    agree = sum(1 for name in labelers if cls in scores.get(name, {}))
    return [*own, *dissent, float(max(agree - 1, 0))]


def fit_agreement(
    labelers: Sequence[str],
    reviewed: Sequence[tuple[Sequence[float], bool]],
    folds: int = 5,
    seed: int = 0,
) -> Agreement:
    """Fit the agreement model to reviewed (features, right) pairs; its reliability figure is
    cross-fitted, so no pair scores itself."""
    n = len(reviewed)
    right = sum(1 for _, r in reviewed if r)
    if _too_few(n, right):
        return Agreement(
            tuple(labelers),
            n,
            right,
            reason=(
                f"{n} reviewed classes ({right} right, {n - right} wrong): too few to learn "
                f"how the labelers agree; it takes {MIN_DECISIONS}, with at least {MIN_EACH} "
                f"right and {MIN_EACH} wrong"
            ),
        )
    from sklearn.linear_model import LogisticRegression

    x = np.array([list(f) for f, _ in reviewed], dtype=float)
    y = np.array([1 if r else 0 for _, r in reviewed])

    def predict(train: Any, test: Any) -> Any:
        if len(set(y[train].tolist())) < 2:
            return np.full(len(test), y[train].mean())
        fold = LogisticRegression(C=1.0, max_iter=1000).fit(x[train], y[train])
        return fold.predict_proba(x[test])[:, 1]

    held = _cross_fitted(n, folds, seed, predict)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    return Agreement(
        tuple(labelers),
        n,
        right,
        tuple(float(c) for c in model.coef_[0]),
        float(model.intercept_[0]),
        expected_calibration_error(held, y),
    )
