"""Rebuild src/labelwise/data/banking77_sample.csv from ../shared/data/banking77 (run by hand).

Ten clearly different intents, 40 texts each: 8 labeled train seeds, 10 labeled test
documents, 22 unlabeled train documents (their true class kept in the `gold` column, which the
importer ignores, so later demo steps can measure suggestions against it).
"""

from __future__ import annotations

import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

CLASSES = [
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "pin_blocked",
    "cash_withdrawal_charge",
    "transfer_not_received_by_recipient",
    "age_limit",
    "cancel_transfer",
    "apple_pay_or_google_pay",
    "terminate_account",
]
PER_CLASS, SEEDS, TESTS = 40, 8, 10


def main(source: Path, target: Path) -> None:
    by_class: dict[str, list[str]] = defaultdict(list)
    with source.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["category"] in CLASSES:
                by_class[row["category"]].append(row["text"].strip())
    rng = random.Random(77)
    rows = []
    for cls in CLASSES:
        texts = rng.sample(sorted(set(by_class[cls])), PER_CLASS)
        for i, text in enumerate(texts):
            labeled = i < SEEDS + TESTS
            rows.append(
                {
                    "text": text,
                    "labels": cls if labeled else "",
                    "dataset": "test" if SEEDS <= i < SEEDS + TESTS else "train",
                    "gold": cls,
                }
            )
    rng.shuffle(rows)
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["name", "text", "labels", "dataset", "gold"])
        writer.writeheader()
        for n, row in enumerate(rows, start=1):
            writer.writerow({"name": f"msg-{n:03d}", **row})


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    default = root.parent / "shared/data/banking77/train.csv"
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else default,
        root / "src/labelwise/data/banking77_sample.csv",
    )
