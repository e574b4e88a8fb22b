"""Accuracy and speed of the embedded labeler on Banking77 and GoEmotions samples.

    python bench/labeler_bench.py [--data ../shared/data] [--per-class 8] [--goemotions 600]

For each dataset: the baseline (bare label-name similarity, what most zero-shot embedding
labelers do), labelwise's zero-shot (class text template) and labelwise with 5 user-labeled
documents per class (prototypes + calibrated confidence). Single-label: accuracy; multi-label:
micro-F1 and the share of documents whose top suggestion is one of their labels. docs/s is the
labeling call on texts not seen before (no cache), on this machine, in the same run.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from labelwise.domain import ClassSpec, DocInput, Example, LabelTask, ProjectKind
from labelwise.embeddings.encoder import Encoder
from labelwise.labelers.embedding import EmbeddingLabeler

SHOTS = 5


def banking77(root: Path, per_class: int, rng: random.Random):  # type: ignore[no-untyped-def]
    by: dict[str, list[str]] = defaultdict(list)
    with (root / "banking77/train.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by[row["category"]].append(row["text"])
    classes = sorted(by)
    shots, test = [], []
    for c in classes:
        texts = rng.sample(by[c], SHOTS + per_class)
        shots += [(t, (c,)) for t in texts[:SHOTS]]
        test += [(t, (c,)) for t in texts[SHOTS:]]
    return ProjectKind.SINGLE_LABEL, classes, shots, test


def goemotions(root: Path, n: int, rng: random.Random):  # type: ignore[no-untyped-def]
    names = (root / "goemotions/labels.txt").read_text(encoding="utf-8").split()

    def read(split: str) -> list[tuple[str, tuple[str, ...]]]:
        rows = []
        with (root / f"goemotions/{split}.tsv").open(encoding="utf-8") as fh:
            for line in fh:
                text, ids, _ = line.rstrip("\n").split("\t")
                rows.append((text, tuple(names[int(i)] for i in ids.split(","))))
        return rows

    train = read("train")
    shots = []
    for c in names:
        pool = [r for r in train if c in r[1]]
        shots += rng.sample(pool, min(SHOTS, len(pool)))
    return ProjectKind.MULTI_LABEL, names, shots, rng.sample(read("dev"), n)


def score(
    kind: ProjectKind, test: list[tuple[str, tuple[str, ...]]], predicted: list[list[str]]
) -> tuple[float, float]:
    if kind == ProjectKind.SINGLE_LABEL:
        acc = float(np.mean([p[:1] == list(g) for (_, g), p in zip(test, predicted, strict=True)]))
        return acc, acc
    tp = fp = fn = 0
    top_hits = 0
    for (_, gold), pred in zip(test, predicted, strict=True):
        g, p = set(gold), set(pred)
        tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
        top_hits += bool(pred) and pred[0] in g
    return 2 * tp / max(2 * tp + fp + fn, 1), top_hits / len(test)


def run(
    name: str, kind: ProjectKind, classes: list[str], shots: list, test: list, encoder: Encoder
) -> list[tuple[str, str, int, float, float, float]]:
    rows = []
    docs = [DocInput(i, t) for i, (t, _) in enumerate(test)]
    # baseline: cosine to the bare class name, top-1 (multi-label: top-1 as well)
    start = time.perf_counter()
    d = encoder.encode([t for t, _ in test])
    c = encoder.encode(list(classes))
    base_pred = [[classes[int(i)]] for i in (d @ c.T).argmax(1)]
    base_time = time.perf_counter() - start
    rows.append(
        (
            name,
            "baseline: name similarity",
            len(test),
            *score(kind, test, base_pred),
            len(test) / base_time,
        )
    )
    for label, examples in (
        ("labelwise zero-shot", ()),
        (f"labelwise {SHOTS}-shot", tuple(Example(t, g) for t, g in shots)),
    ):
        labeler = EmbeddingLabeler(encoder=encoder)
        task = LabelTask(kind, tuple(ClassSpec(n) for n in classes), examples)
        labeler.fit(task)  # class vectors are built once per job, not per document
        start = time.perf_counter()
        outs = labeler.label(task, docs)
        elapsed = time.perf_counter() - start
        pred = [[p.class_name for p in o.predictions] for o in outs]
        rows.append((name, label, len(test), *score(kind, test, pred), len(test) / elapsed))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--goemotions", type=int, default=600)
    args = parser.parse_args()
    rng = random.Random(7)
    encoder = Encoder()
    encoder.encode(["warm up"])
    rows = run("banking77", *banking77(args.data, args.per_class, rng), encoder=encoder)
    rows += run("goemotions", *goemotions(args.data, args.goemotions, rng), encoder=encoder)
    print(f"{'dataset':<11} {'labeler':<27} {'docs':>5} {'acc/F1':>7} {'top-1':>6} {'docs/s':>7}")
    for dataset, label, n, main_score, top1, speed in rows:
        print(f"{dataset:<11} {label:<27} {n:>5} {main_score:>7.3f} {top1:>6.3f} {speed:>7.1f}")
    print(
        "banking77: accuracy (single-label); goemotions: micro-F1 over all suggested labels, "
        "top-1 = top suggestion is a gold label"
    )


if __name__ == "__main__":
    main()
