"""The review pages at scale: first pages of every list, search and a review decision, on SQLite
and PostgreSQL.

    python bench/web_bench.py [--docs 1000000] [--postgres URL]

Fills a fresh project (10 % labeled; 30 % with a suggestion, a tenth of those with a second
one from another labeler that disagrees) on each backend, then times what a reviewer waits for,
through the real application (HTTP requests to the FastAPI app in process):

- the first page of the document list for each filter, a class, a labeler, the "most
  informative first" order and two searches (a common phrase; a rare word, one document);
- the first page of bulk review, and the counter of the document page ("12 of 162 left");
- a review decision's round trip: accept the top suggestion and fetch the next document.

As the baseline in the same run, the same first pages are read with a plain ``LIKE`` scan for
search and an exact ``COUNT(*)`` for the counter. Prints milliseconds (median of 5). The
PostgreSQL backend runs in a schema of its own (``--postgres``, default
``$LABELWISE_TEST_DATABASE_URL``; skipped when neither is set).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from labelwise.domain import DocumentRecord, ProjectKind
from labelwise.store import open_store, search
from labelwise.store.classes import add_class
from labelwise.store.db import refresh_statistics, scratch_schema
from labelwise.store.documents import write_batch
from labelwise.store.models import Document, Suggestion
from labelwise.store.projects import create_project, get_project
from labelwise.web.app import create_app

CLASSES = ("billing", "delivery", "account", "technical")
WORDS = "order invoice parcel charged refund password login app courier late card".split()
RARE = "zanzibar"  # in one document only


def fill(url: str, n: int) -> None:
    rng = random.Random(7)
    store = open_store(url)
    with store.session() as s:
        p = create_project(s, "big", ProjectKind.SINGLE_LABEL)
        for c in CLASSES:
            add_class(s, p, c)
    for start in range(0, n, 10_000):
        with store.session() as s:
            p = get_project(s, "big")
            ids = {c.name: c.id for c in p.classes}
            records = [
                DocumentRecord(
                    f"doc-{i:07d}",
                    " ".join(rng.choices(WORDS, k=20)) + (f" {RARE}" if i == n // 2 else f" #{i}"),
                    labels=(rng.choice(CLASSES),) if rng.random() < 0.1 else (),
                    where=str(i),
                )
                for i in range(start, min(n, start + 10_000))
            ]
            write_batch(s, p, records, ids)
            if start // 10_000 in (1, 2, 4, 8, 16, 32, 64):  # as an import does
                refresh_statistics(s)
    with store.session() as s:
        p = get_project(s, "big")
        class_ids = [c.id for c in p.classes]
        doc_ids = list(s.scalars(select(Document.id).where(Document.project_id == p.id)))
        chosen = [d for d in doc_ids if rng.random() < 0.3]
        rows: list[dict[str, Any]] = []
        for d in chosen:
            first = rng.choice(class_ids)
            rows.append(
                {
                    "document_id": d,
                    "class_id": first,
                    "confidence": round(rng.random(), 3),
                    "labeler": "embedding",
                }
            )
            if rng.random() < 0.1:
                other = rng.choice([c for c in class_ids if c != first])
                rows.append(
                    {
                        "document_id": d,
                        "class_id": other,
                        "confidence": round(rng.random(), 3),
                        "labeler": "openai",
                    }
                )
        for i in range(0, len(rows), 10_000):
            s.execute(insert(Suggestion), rows[i : i + 10_000])
    with store.session() as s:
        refresh_statistics(s, ("documents", "labels", "suggestions"))
    store.dispose()


def median_ms(fn: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@contextmanager
def database(backend: str, postgres: str | None, tmp: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{Path(tmp) / 'web.db'}"
        return
    assert postgres is not None
    with scratch_schema(postgres, "bench") as url:
        yield url


def get(client: TestClient, url: str) -> Any:
    response = client.get(url)
    response.raise_for_status()
    return response


def measure(url: str) -> list[tuple[str, float, float | None]]:
    """(what, ms, baseline ms or None) for each timed step."""
    store = open_store(url)
    client = TestClient(create_app(store, run_jobs=False), base_url="http://127.0.0.1")
    api = "/api/projects/big/documents"
    page = "/projects/big/documents"
    rows: list[tuple[str, float, float | None]] = []

    def like_scan(q: str) -> object:  # the baseline: what search did before its index
        with store.session() as s:
            p = get_project(s, "big")
            query = (
                select(Document.id)
                .where(Document.project_id == p.id, Document.text.contains(q, autoescape=True))
                .order_by(Document.id)
                .limit(50)
            )
            return list(s.scalars(query))

    def exact_count(filter_: str) -> object:  # the baseline: COUNT(*) of the filtered list
        with store.session() as s:
            from labelwise.store.query import DocumentQuery

            p = get_project(s, "big")
            clause = DocumentQuery(filter=filter_).clause(s, p)  # type: ignore[arg-type]
            return s.scalar(select(func.count()).select_from(Document).where(clause))

    def step(name: str, ms: float, base: float | None = None) -> None:
        rows.append((name, ms, base))
        print(f"  {name:<44} {ms:>9.1f} ms" + ("" if base is None else f"  (baseline {base:.1f})"))

    for name, query in (
        ("list: all", ""),
        ("list: unlabeled", "?filter=unlabeled"),
        ("list: labeled", "?filter=labeled"),
        ("list: auto-labeled", "?filter=auto-labeled"),
        ("list: class delivery", "?class=delivery"),
        ("list: labeler openai", "?labeler=openai"),
        ("list: most informative", "?filter=auto-labeled&sort=informative"),
    ):
        step(name, median_ms(lambda q=query: get(client, page + q)))
    searches = (("'refund courier'", "refund courier"), (f"'{RARE}'", RARE))
    with store.session() as s:
        waiting = search.pending(s)
    for name, q in searches:
        label = f"search {name}" + (", not indexed yet" if waiting else "")
        step(
            label,
            median_ms(lambda q=q: get(client, f"{page}?q={q}")),
            median_ms(lambda q=q: like_scan(q)),
        )
    if waiting:  # what the server does in the background after a large import
        started = time.perf_counter()
        while True:
            with store.session() as s:
                if not search.index_pending(s):
                    break
        took = time.perf_counter() - started
        print(f"  {waiting:,} documents indexed for search in {took:.0f} s")
        for name, q in searches:
            step(
                f"search {name}",
                median_ms(lambda q=q: get(client, f"{page}?q={q}")),
                median_ms(lambda q=q: like_scan(q)),
            )
    step("bulk review page", median_ms(lambda: get(client, "/projects/big/review")))
    step(
        "counter: left in auto-labeled",
        median_ms(lambda: get(client, f"{api}?filter=auto-labeled&limit=1&count=true")),
        median_ms(lambda: exact_count("auto-labeled")),
    )
    # a decision: accept the top suggestion, then fetch the next document of the list
    names = [
        d["name"] for d in get(client, f"{api}?filter=auto-labeled&limit=20").json()["documents"]
    ]
    timings = []
    for name in names[:10]:
        doc = get(client, f"{api}/{name}?filter=auto-labeled").json()
        started = time.perf_counter()
        answer = client.post(
            f"{api}/{name}/review",
            json={"accept": [doc["suggestions"][0]["id"]]},
            headers={"X-CSRF-Token": client.cookies.get("lw_csrf", "")},  # as the page sends it
        )
        if answer.status_code != 200:
            raise SystemExit(f"the review of {name} was refused: {answer.text}")
        get(client, f"{api}/{doc['next']}?filter=auto-labeled")
        timings.append((time.perf_counter() - started) * 1000)
    step("decision round trip", statistics.median(timings))
    client.close()
    store.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("LABELWISE_TEST_DATABASE_URL"))
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if not args.postgres and "postgresql" in backends:
        print("PostgreSQL skipped: give --postgres URL or set LABELWISE_TEST_DATABASE_URL")
        backends.remove("postgresql")
    results: dict[str, list[tuple[str, float, float | None]]] = {}
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp, database(backend, args.postgres, tmp) as url:
            started = time.perf_counter()
            fill(url, args.docs)
            took = time.perf_counter() - started
            print(f"{backend}: {args.docs:,} documents filled in {took:.0f} s")
            results[backend] = measure(url)
    header = f"{'what (first page, ms)':<44}"
    for backend in results:
        header += f" {backend:>11} {'baseline':>9}"
    print(header)
    steps = list(dict.fromkeys(name for rows in results.values() for name, _, _ in rows))
    for name in steps:
        line = f"{name:<44}"
        for rows in results.values():
            got = {n: (ms, base) for n, ms, base in rows}
            ms, base = got.get(name, (float("nan"), None))
            line += f" {ms:>11.1f} {'' if base is None else f'{base:.1f}':>9}"
        print(line)
    print(
        "baseline: a LIKE scan for search, an exact COUNT(*) for the counter; "
        "the round trip is accept + next document"
    )


if __name__ == "__main__":
    main()
