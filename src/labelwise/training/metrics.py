"""Evaluation: per-class precision/recall/F1 with counts, micro and macro averages, the
confusion matrix (single-label), mismatches and guidance. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

from labelwise.domain import ProjectKind

FEW_LABELS = 15  # Azure's guidance: at least 15 labeled documents a class


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(
    kind: ProjectKind,
    labels: Sequence[str],
    truth: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    names: Sequence[str] = (),
    train_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Metrics of ``predicted`` against ``truth`` (one list of classes per document)."""
    n = len(truth)
    per_class: dict[str, dict[str, float]] = {}
    totals = {"tp": 0, "fp": 0, "fn": 0}
    for c in labels:
        tp = sum(c in t and c in p for t, p in zip(truth, predicted, strict=True))
        fp = sum(c not in t and c in p for t, p in zip(truth, predicted, strict=True))
        fn = sum(c in t and c not in p for t, p in zip(truth, predicted, strict=True))
        tn = n - tp - fp - fn
        prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        per_class[c] = {
            "precision": prec,
            "recall": rec,
            "f1": _f1(prec, rec),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
            "support": tp + fn,
        }
        totals["tp"] += tp
        totals["fp"] += fp
        totals["fn"] += fn
    micro_p = _ratio(totals["tp"], totals["tp"] + totals["fp"])
    micro_r = _ratio(totals["tp"], totals["tp"] + totals["fn"])
    macro = {
        k: sum(m[k] for m in per_class.values()) / max(len(labels), 1)
        for k in ("precision", "recall", "f1")
    }
    result: dict[str, Any] = {
        "documents": n,
        "per_class": per_class,
        "micro": {"precision": micro_p, "recall": micro_r, "f1": _f1(micro_p, micro_r)},
        "macro": macro,
        "mismatches": [
            {"document": names[i] if names else i, "labels": list(t), "predicted": list(p)}
            for i, (t, p) in enumerate(zip(truth, predicted, strict=True))
            if set(t) != set(p)
        ],
    }
    if kind == ProjectKind.SINGLE_LABEL:
        index = {c: i for i, c in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for t, p in zip(truth, predicted, strict=True):
            if t and p:
                matrix[index[t[0]]][index[p[0]]] += 1
        result["accuracy"] = _ratio(sum(matrix[i][i] for i in range(len(labels))), n)
        result["confusion"] = {
            "labels": list(labels),
            "matrix": matrix,
            "normalized": [[_ratio(v, sum(row)) for v in row] for row in matrix],
        }
    result["guidance"] = guidance(result, labels, train_counts or {})
    return result


def guidance(
    result: dict[str, Any], labels: Sequence[str], train_counts: dict[str, int]
) -> list[str]:
    """Plain advice: classes with too little data, the pairs of classes most confused."""
    lines = [
        f"class {c!r} has {train_counts.get(c, 0)} labeled training documents; label at least "
        f"{FEW_LABELS} (more where its F1 is low)"
        for c in labels
        if train_counts.get(c, 0) < FEW_LABELS
    ]
    confusion = result.get("confusion")
    if confusion:
        m = confusion["matrix"]
        pairs = sorted(
            (
                (m[i][j] + m[j][i], a, b)
                for (i, a), (j, b) in combinations(enumerate(labels), 2)
                if m[i][j] + m[j][i]
            ),
            reverse=True,
        )[:3]
        lines += [
            f"{a!r} and {b!r} are confused {n} times: make their descriptions and "
            "labels clearly different, or merge them"
            for n, a, b in pairs
        ]
    weak = [c for c, v in result["per_class"].items() if v["support"] and v["f1"] < 0.5]
    if weak:
        lines.append("low F1 (< 0.5): " + ", ".join(weak))
    return lines
