"""Paging the Data labeling list at 100,000 documents: keyset paging against OFFSET paging.

    python bench/web_bench.py [--docs 100000]

Fills a fresh SQLite project (10 % labeled, 30 % with a suggestion), then times one page of 50
documents — with labels and suggestions, as the page and the API build it — at the start and
deep in the list, for each filter, and the same depths with OFFSET paging (what a naive list
does) as the baseline in the same run. Prints milliseconds per page (median of 5).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

from labelwise.domain import DocFilter, DocumentRecord, ProjectKind
from labelwise.store import open_store
from labelwise.store.classes import add_class
from labelwise.store.documents import write_batch
from labelwise.store.models import Document, Suggestion
from labelwise.store.projects import create_project, get_project
from labelwise.web.routers.documents import DocFilters, listing_page

PAGE = 50
CLASSES = ("billing", "delivery", "account", "technical")
WORDS = "order invoice parcel charged refund password login app courier late card".split()


def fill(url: str, n: int) -> None:
    rng = random.Random(7)
    store = open_store(url)
    with store.session() as s:
        p = create_project(s, "big", ProjectKind.SINGLE_LABEL)
        for c in CLASSES:
            add_class(s, p, c)
    for start in range(0, n, 5000):
        with store.session() as s:
            p = get_project(s, "big")
            ids = {c.name: c.id for c in p.classes}
            records = [
                DocumentRecord(
                    f"doc-{i:06d}",
                    " ".join(rng.choices(WORDS, k=20)) + f" #{i}",
                    labels=(rng.choice(CLASSES),) if rng.random() < 0.1 else (),
                    where=str(i),
                )
                for i in range(start, min(n, start + 5000))
            ]
            write_batch(s, p, records, ids)
    with store.session() as s:
        p = get_project(s, "big")
        class_ids = [c.id for c in p.classes]
        doc_ids = list(s.scalars(select(Document.id).where(Document.project_id == p.id)))
        chosen = [d for d in doc_ids if rng.random() < 0.3]
        for i in range(0, len(chosen), 5000):
            s.execute(
                insert(Suggestion),
                [
                    {
                        "document_id": d,
                        "class_id": rng.choice(class_ids),
                        "confidence": round(rng.random(), 3),
                        "labeler": "bench",
                    }
                    for d in chosen[i : i + 5000]
                ],
            )
    store.dispose()


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'web.db'}"
        started = time.perf_counter()
        fill(url, args.docs)
        print(f"{args.docs:,} documents filled in {time.perf_counter() - started:.1f} s")
        store = open_store(url)
        rows = []
        with store.session() as s:
            p = get_project(s, "big")
            for which in (DocFilter.ALL, DocFilter.UNLABELED, DocFilter.AUTO_LABELED):
                f = DocFilters(filter=which)
                ids = [d.id for d in f.listing(s, p, limit=None)]
                deep = ids[int(len(ids) * 0.9)]  # a page 90 % of the way down the list
                depth = int(len(ids) * 0.9)

                def keyset(after: int, f: DocFilters = f) -> object:
                    return listing_page(s, p, f, PAGE, after)

                def offset(skip: int, f: DocFilters = f) -> object:
                    query = (
                        select(Document)
                        .where(f.clause(s, p))
                        .order_by(Document.id)
                        .offset(skip)
                        .limit(PAGE)
                    )
                    return list(s.scalars(query))

                rows.append(
                    (
                        which.value,
                        len(ids),
                        median_ms(lambda k=keyset: k(0)),
                        median_ms(lambda k=keyset, d=deep: k(d)),
                        median_ms(lambda o=offset, d=depth: o(d)),
                    )
                )
            search = DocFilters(q="refund courier")
            rows.append(
                (
                    "search 'refund courier'",
                    len(search.listing(s, p, limit=None)),
                    median_ms(lambda: listing_page(s, p, search, PAGE)),
                    float("nan"),
                    float("nan"),
                )
            )
        store.dispose()
    print(
        f"{'filter':<24} {'matches':>8} {'page 1 ms':>10} {'page @90% ms':>13} "
        f"{'OFFSET @90% ms (baseline)':>26}"
    )
    for name, n, first, deep_ms, offset_ms in rows:
        print(f"{name:<24} {n:>8,} {first:>10.1f} {deep_ms:>13.1f} {offset_ms:>26.1f}")
    print("keyset pages include labels and suggestions; the OFFSET baseline reads documents only")


if __name__ == "__main__":
    main()
