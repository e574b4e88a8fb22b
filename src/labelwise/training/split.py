"""Train/test splits: automatic (stratified percentage of the train set) or manual."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from labelwise.domain import LabelwiseError


@dataclass(frozen=True)
class LabeledDoc:
    id: int
    name: str
    text: str
    content_hash: str
    dataset: str
    labels: tuple[str, ...]


def auto_split(
    docs: Sequence[LabeledDoc], train_percent: int, seed: int = 0
) -> tuple[list[LabeledDoc], list[LabeledDoc]]:
    """Split the documents of the train set, stratified by their first label: every class keeps
    at least one training document, and gets a test document when it has two or more."""
    if not 1 <= train_percent <= 99:
        raise LabelwiseError(
            f"a training share of {train_percent} %: give a percentage from 1 to 99"
        )
    by_class: dict[str, list[LabeledDoc]] = defaultdict(list)
    for d in docs:
        if d.dataset == "train":
            by_class[d.labels[0]].append(d)
    rng = random.Random(seed)
    train, test = [], []
    for cls in sorted(by_class):
        group = sorted(by_class[cls], key=lambda d: d.id)
        rng.shuffle(group)
        n_train = round(len(group) * train_percent / 100)
        n_train = min(max(n_train, 1), len(group) - 1 if len(group) >= 2 else 1)
        train += group[:n_train]
        test += group[n_train:]
    return train, test


def manual_split(docs: Sequence[LabeledDoc]) -> tuple[list[LabeledDoc], list[LabeledDoc]]:
    """The documents' own train/test assignment."""
    train = [d for d in docs if d.dataset == "train"]
    test = [d for d in docs if d.dataset == "test"]
    if not test:
        raise LabelwiseError(
            "the manual split needs labeled documents in the test set; put some in the "
            "test set, or use the automatic split (80 % for training)"
        )
    if not train:
        raise LabelwiseError("the manual split found no labeled documents in the train set")
    return train, test
