"""The hand-written metrics and split, cross-checked against scikit-learn on random labelings."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

from labelwise.domain import ProjectKind
from labelwise.training.metrics import evaluate
from labelwise.training.split import LabeledDoc, auto_split

LABELS = ["a", "b", "c", "d"]


@pytest.mark.parametrize("seed", range(5))
def test_single_label_metrics_match_sklearn(seed: int) -> None:
    rng = random.Random(seed)
    truth = [rng.choice(LABELS) for _ in range(200)]
    pred = [t if rng.random() < 0.6 else rng.choice(LABELS) for t in truth]
    got = evaluate(ProjectKind.SINGLE_LABEL, LABELS, [[t] for t in truth], [[p] for p in pred])
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=LABELS, zero_division=0)
    for i, c in enumerate(LABELS):
        m = got["per_class"][c]
        assert (m["precision"], m["recall"], m["f1"], m["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i])
        )
    for avg in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(
            truth, pred, labels=LABELS, average=avg, zero_division=0
        )
        assert (got[avg]["precision"], got[avg]["recall"], got[avg]["f1"]) == pytest.approx(
            (p, r, f)
        )
    assert got["accuracy"] == pytest.approx(accuracy_score(truth, pred))
    assert got["confusion"]["matrix"] == confusion_matrix(truth, pred, labels=LABELS).tolist()


@pytest.mark.parametrize("seed", range(5))
def test_multi_label_metrics_match_sklearn(seed: int) -> None:
    rng = random.Random(seed)
    truth = [rng.sample(LABELS, rng.randint(0, 3)) for _ in range(150)]
    pred = [[c for c in LABELS if (c in t) == (rng.random() < 0.75)] for t in truth]
    got = evaluate(ProjectKind.MULTI_LABEL, LABELS, truth, pred)
    mlb = MultiLabelBinarizer(classes=LABELS)
    y, yhat = mlb.fit_transform(truth), mlb.transform(pred)
    p, r, f, _ = precision_recall_fscore_support(y, yhat, zero_division=0)
    for i, c in enumerate(LABELS):
        m = got["per_class"][c]
        assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p[i], r[i], f[i]))
    for avg in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y, yhat, average=avg, zero_division=0)
        assert (got[avg]["precision"], got[avg]["recall"], got[avg]["f1"]) == pytest.approx(
            (p, r, f)
        )


def test_auto_split_is_stratified_like_sklearn() -> None:
    """Per class, the training share is the one asked for, as sklearn's stratified split
    gives it (within one document per class for rounding)."""
    from sklearn.model_selection import train_test_split

    rng = random.Random(3)
    docs = [LabeledDoc(i, f"d{i}", "t", "", "train", (rng.choice(LABELS[:3]),)) for i in range(300)]
    train, test = auto_split(docs, 80)
    assert {d.id for d in train}.isdisjoint({d.id for d in test})
    assert len(train) + len(test) == len(docs)
    y = [d.labels[0] for d in docs]
    sk_train, _ = train_test_split(docs, train_size=0.8, stratify=y, random_state=0)
    for c in LABELS[:3]:
        ours = sum(d.labels[0] == c for d in train)
        theirs = sum(d.labels[0] == c for d in sk_train)
        assert abs(ours - theirs) <= 1, (c, ours, theirs)
    assert np.isclose(len(train) / len(docs), 0.8, atol=0.01)
