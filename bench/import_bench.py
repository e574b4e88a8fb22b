"""Import 100,000 short documents into a fresh SQLite store; print time and peak memory.

    python bench/import_bench.py [--docs 100000]

Each import runs in a child process so its peak RSS is its own. The baseline is the same rows
written with bare ``sqlite3.executemany`` (no checks, no labels) in the same run, so the ratio
says what labelwise's checks, batching and labels cost on this machine today.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS = tuple(
    "card payment transfer refund account balance fee pin blocked arrived late cash exchange "
    "rate top up limit verify identity app login password freeze".split(" ")
)
CLASSES = ("card", "transfer", "account", "fees", "security")

CHILD_IMPORT = """
import json, resource, sys, time
from labelwise.ingest.importer import run_import
from labelwise.ingest.records import Options
from labelwise.store import open_store
from labelwise.store.classes import add_class
from labelwise.store.projects import create_project
url, path, fmt = sys.argv[1:4]
store = open_store(url)
with store.session() as s:
    p = create_project(s, "bench")
    for c in {classes!r}:
        add_class(s, p, c)
start = time.perf_counter()
report = run_import(store, "bench", path, fmt=fmt, options=Options(label_column="labels"))
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": elapsed, "stored": report.inserted, "errors": len(report.errors),
                  "peak_mib": peak}}))
"""

CHILD_BASELINE = """
import csv, json, resource, sqlite3, sys, time
db, path = sys.argv[1:3]
conn = sqlite3.connect(db)
conn.execute("create table documents (id integer primary key, name text unique, text text)")
start = time.perf_counter()
with open(path, encoding="utf-8", newline="") as fh:
    rows = ((r["name"], r["text"]) for r in csv.DictReader(fh))
    conn.executemany("insert into documents (name, text) values (?, ?)", rows)
conn.commit()
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "stored": conn.execute("select count(*) from documents")
                  .fetchone()[0], "errors": 0, "peak_mib": peak}))
"""


def generate(folder: Path, n: int) -> tuple[Path, Path]:
    rng = random.Random(0)
    csv_path, jsonl_path = folder / "docs.csv", folder / "docs.jsonl"
    with (
        csv_path.open("w", encoding="utf-8", newline="") as fc,
        jsonl_path.open("w", encoding="utf-8") as fj,
    ):
        writer = csv.writer(fc)
        writer.writerow(["name", "text", "labels"])
        for i in range(n):
            text = " ".join(rng.choices(WORDS, k=rng.randint(6, 24))).capitalize() + "?"
            label = rng.choice(CLASSES) if i % 10 == 0 else ""  # 10% labeled
            writer.writerow([f"doc-{i:06d}", text, label])
            fj.write(json.dumps({"name": f"doc-{i:06d}", "text": text, "labels": label}) + "\n")
    return csv_path, jsonl_path


def child(code: str, *args: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path, jsonl_path = generate(folder, args.docs)
        runs = [
            (
                "sqlite3.executemany (baseline)",
                child(CHILD_BASELINE, str(folder / "base.db"), str(csv_path)),
            ),
            (
                "labelwise import CSV",
                child(
                    CHILD_IMPORT.format(classes=CLASSES),
                    f"sqlite:///{folder / 'a.db'}",
                    str(csv_path),
                    "csv",
                ),
            ),
            (
                "labelwise import JSONL",
                child(
                    CHILD_IMPORT.format(classes=CLASSES),
                    f"sqlite:///{folder / 'b.db'}",
                    str(jsonl_path),
                    "jsonl",
                ),
            ),
        ]
    base = runs[0][1]["seconds"]
    print(f"{args.docs:,} short documents (10% with a label) into a fresh SQLite file")
    print(
        f"{'method':<32} {'stored':>8} {'seconds':>8} {'docs/s':>9} {'x baseline':>10} "
        f"{'peak MiB':>9}"
    )
    for name, r in runs:
        print(
            f"{name:<32} {int(r['stored']):>8,} {r['seconds']:>8.2f} "
            f"{r['stored'] / r['seconds']:>9,.0f} {r['seconds'] / base:>10.1f} "
            f"{r['peak_mib']:>9.0f}"
        )
    worst = max(r["seconds"] for _, r in runs[1:])
    peak = max(r["peak_mib"] for _, r in runs[1:])
    print(f"target: under 60 s and 1024 MiB -> {'met' if worst < 60 and peak < 1024 else 'MISSED'}")


if __name__ == "__main__":
    main()
