"""Autolabel jobs against a slow chat-completions endpoint, beside bare SDK loops, in one run.

    python bench/autolabel_bench.py [--docs 300] [--latency 0.3] [--per-second 20]

Starts the loopback server of the test suite in its own process (every answer after
`--latency` seconds) and prints, in one run:
- docs/s of a job against a sequential `openai` loop and bare threaded and `AsyncOpenAI` loops
  at the same concurrency (plain, 8 documents a request, and with 10 % of answers 500, that
  last one also beside the bare async loop on the same failing endpoint), with the estimate's
  prompt and completion tokens over what the endpoint billed;
- a limit enforced over any 1-second window (`--per-second`): the rpm stated on the
  connection, learned from x-ratelimit headers, or unknown: failed documents, 429s, and the
  wall time over the floor;
- few-shot on a big project: `--labeled` user-labeled documents (100,000 by default) beside
  `--fewshot-docs` unlabeled ones, each job in a fresh process that reports its peak RSS:
  zero-shot (`few_shot=0`) against the default few-shot (4 examples chosen per request).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labelwise.domain import DocumentRecord, ProjectKind
from labelwise.jobs import runner
from labelwise.store import open_store
from labelwise.store.classes import add_class
from labelwise.store.documents import write_batch
from labelwise.store.llm import add_connection
from labelwise.store.projects import create_project, get_project

ROOT = Path(__file__).resolve().parents[1]  # the loopback server lives in tests/
CLASSES = ("billing", "delivery", "account", "technical")
WORDS = (
    "my order the invoice was charged twice and the parcel has not arrived yet while my "
    "password reset link fails on the app after the update please help"
).split()


def documents(n: int) -> dict[str, str]:
    import random

    rng = random.Random(1)
    return {f"doc-{i:04d}": " ".join(rng.choices(WORDS, k=24)) + f" ({i})" for i in range(n)}


def sequential(url: str, texts: list[str]) -> float:
    """The naive baseline: one SDK call after the other."""
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=3)
    start = time.perf_counter()
    for text in texts:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Classify into: " + ", ".join(CLASSES)},
                {"role": "user", "content": f'<document id="1">\n{text}\n</document>'},
            ],
        )
    return len(texts) / (time.perf_counter() - start)


def concurrent_sdk(url: str, texts: list[str], threads: int) -> float:
    """What the openai SDK alone reaches with ``threads`` requests at once on this machine
    (no prompt building, no storage): the practical ceiling next to the theoretical one."""
    from concurrent.futures import ThreadPoolExecutor

    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=3)

    def one(text: str) -> None:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "Classify into: " + ", ".join(CLASSES)},
                {"role": "user", "content": f'<document id="1">\n{text}\n</document>'},
            ],
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, texts[: threads * 2]))  # warm the connections
        start = time.perf_counter()
        list(pool.map(one, texts))
    return len(texts) / (time.perf_counter() - start)


def concurrent_async_sdk(url: str, texts: list[str], tasks: int) -> float:
    """The same with ``AsyncOpenAI`` and ``tasks`` requests at once on one event loop (why the
    runner uses threads: on this machine asyncio's client is the slower one)."""
    import asyncio

    import openai

    async def main() -> float:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=3)
        gate = asyncio.Semaphore(tasks)

        async def one(text: str) -> None:
            async with gate:
                await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[
                        {"role": "system", "content": "Classify into: " + ", ".join(CLASSES)},
                        {"role": "user", "content": f'<document id="1">\n{text}\n</document>'},
                    ],
                )

        await asyncio.gather(*(one(t) for t in texts[: tasks * 2]))  # warm the connections
        start = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        return len(texts) / (time.perf_counter() - start)

    return asyncio.run(main())


def job(
    url: str, docs: dict[str, str], rpm: int | None = None, **options: object
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'b.db'}")
        with store.session() as s:
            p = create_project(s, "bench", ProjectKind.SINGLE_LABEL)
            for c in CLASSES:
                add_class(s, p, c)
            add_connection(
                s,
                "local",
                "openai",
                url + "/v1",
                "gpt-4o-mini",
                api_key_env="BENCH_NO_API_KEY",
                rpm=rpm,
            )
        with store.session() as s:
            p = get_project(s, "bench")
            write_batch(
                s,
                p,
                [DocumentRecord(n, t, where=n) for n, t in docs.items()],
                {c.name: c.id for c in p.classes},
            )
        from labelwise.estimate import estimate_for_connection

        est = estimate_for_connection(store, "bench", "local", {"few_shot": 0, **options})
        before = stats(url)
        job_id = runner.create(
            store, "bench", "openai", llm="local", options={"few_shot": 0, **options}
        )
        start = time.perf_counter()
        done = runner.run(store, job_id)
        elapsed = time.perf_counter() - start
        after = stats(url)
        result = {
            "docs_s": done.done / elapsed,
            "wall": elapsed,
            "throttled": after["throttled"] - before["throttled"],
            "requests": after["requests"] - before["requests"],
            "done": done.done,
            "failed": done.failed,
            "prompt_per_doc": done.prompt_tokens / max(done.done, 1),
            # the estimate against what the endpoint billed (its usage, counted as providers do)
            "est_prompt": est.prompt_tokens / max(done.prompt_tokens, 1),
            "est_completion": est.completion_tokens / max(done.completion_tokens, 1),
        }
        store.dispose()
        return result


@contextmanager
def endpoint(
    tmp: Path,
    gold: dict[str, list[str]],
    latency: float,
    fail_every: int = 0,
    per_second: int = 0,
    announce: bool = False,
) -> Iterator[str]:
    """The loopback server in a process of its own, so it does not compete for our GIL."""
    config = tmp / f"server-{fail_every}-{per_second}-{announce}.json"
    config.write_text(
        json.dumps(
            {
                "gold": gold,
                "latency": latency,
                "fail_every": fail_every,
                "per_second": per_second,
                "announce": announce,
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.llm_server", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        sequential(url, list(gold)[:3])  # warm the server up (its tokenizer loads on first use)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/stats") as resp:
        return dict(json.loads(resp.read()))


def requests_seen(url: str) -> int:
    return stats(url)["requests"]


def fewshot_child(url: str, db: str, few_shot: int, concurrency: int) -> None:
    """Run one job on the prepared database and print its docs/s and this process's peak RSS
    (a process of its own, so the figure is the job's alone)."""
    import resource

    store = open_store(db)
    job_id = runner.create(
        store,
        "bench",
        "openai",
        llm="local",
        options={"few_shot": few_shot, "concurrency": concurrency},
    )
    start = time.perf_counter()
    done = runner.run(store, job_id)
    elapsed = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "docs_s": done.done / elapsed,
                "done": done.done,
                "failed": done.failed,
                "rss_mib": rss_mib,
                "prompt_per_doc": done.prompt_tokens / max(done.done, 1),
            }
        )
    )


def fewshot_db(tmp: Path, url: str, labeled: int, unlabeled: dict[str, str]) -> str:
    import random

    db = f"sqlite:///{tmp / 'fewshot.db'}"
    store = open_store(db)
    rng = random.Random(2)
    with store.session() as s:
        p = create_project(s, "bench", ProjectKind.SINGLE_LABEL)
        for c in CLASSES:
            add_class(s, p, c)
        add_connection(
            s, "local", "openai", url + "/v1", "gpt-4o-mini", api_key_env="BENCH_API_KEY"
        )
    for start in range(0, labeled, 5000):
        with store.session() as s:
            p = get_project(s, "bench")
            records = []
            for i in range(start, min(start + 5000, labeled)):
                text = " ".join(rng.choices(WORDS, k=60)) + f" ({i})"
                labels = (rng.choice(CLASSES),)
                records.append(DocumentRecord(f"d{i:07d}", text, where=str(i), labels=labels))
            write_batch(s, p, records, {c.name: c.id for c in p.classes})
    with store.session() as s:  # the documents to label: the ones the endpoint knows
        p = get_project(s, "bench")
        records = [DocumentRecord(n, t, where=n) for n, t in unlabeled.items()]
        write_batch(s, p, records, {c.name: c.id for c in p.classes})
    store.dispose()
    return db


def fewshot(args: argparse.Namespace, tmp: Path) -> list[tuple[str, dict[str, float]]]:
    docs = documents(args.fewshot_docs)
    gold = {t: ["billing"] for t in docs.values()}
    rows = []
    with endpoint(tmp, gold, args.latency) as url:
        db = fewshot_db(tmp, url, args.labeled, docs)
        for name, k in (
            ("zero-shot", 0),
            ("few-shot, 4, cold cache", 4),  # the examples are embedded first
            ("few-shot, 4, warm cache", 4),  # their vectors come from the store's cache
        ):
            out = subprocess.run(
                [sys.executable, __file__, "--child", url, db, str(k), str(args.concurrency)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            rows.append((name, json.loads(out.stdout.strip().splitlines()[-1])))
            # the next job must label the same documents again: drop this job's suggestions
            store = open_store(db)
            with store.engine.begin() as conn:
                from sqlalchemy import text as sql

                conn.execute(sql("DELETE FROM suggestions"))
                conn.execute(sql("DELETE FROM llm_answers"))
            store.dispose()
    return rows


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        url, db, k, c = sys.argv[2:6]
        fewshot_child(url, db, int(k), int(c))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--labeled", type=int, default=100_000)
    parser.add_argument("--fewshot-docs", type=int, default=300)
    parser.add_argument("--only-fewshot", action="store_true")
    parser.add_argument("--skip-fewshot", action="store_true")
    parser.add_argument("--per-second", type=int, default=20, help="the enforced limit")
    args = parser.parse_args()
    if args.only_fewshot:
        print_fewshot(args)
        return
    docs = documents(args.docs)
    gold = {t: ["billing"] for t in docs.values()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with endpoint(Path(tmp), gold, args.latency) as url:
            base = sequential(url, list(docs.values())[: max(20, args.docs // 10)])
            ceiling = concurrent_sdk(url, list(docs.values()), args.concurrency)
            ceiling_async = concurrent_async_sdk(url, list(docs.values()), args.concurrency)
            rows.append(("job, 1 doc/request", job(url, docs, concurrency=args.concurrency)))
            rows.append(
                (
                    "job, 8 docs/request",
                    job(url, docs, concurrency=args.concurrency, docs_per_request=8),
                )
            )
        with endpoint(Path(tmp), gold, args.latency, fail_every=10) as url:
            bare_500 = concurrent_async_sdk(url, list(docs.values()), args.concurrency)
            rows.append(("job, 10% answered 500", job(url, docs, concurrency=args.concurrency)))
        paced = per_second_scenario(Path(tmp), docs, gold, args)
    capacity = args.concurrency / args.latency
    print(
        f"{args.docs} documents, {len(CLASSES)} classes, endpoint latency {args.latency}s in "
        f"its own process, {args.concurrency} in flight (capacity {capacity:.0f} docs/s at 1 "
        "doc/request)"
    )
    print(f"sequential openai SDK loop: {base:.1f} docs/s")
    print(
        f"bare openai SDK, {args.concurrency} threads, nothing stored: {ceiling:.1f} docs/s "
        f"({100 * ceiling / capacity:.0f} % of capacity: the client and the endpoint share "
        "this machine's cores)"
    )
    print(f"bare AsyncOpenAI, {args.concurrency} tasks, nothing stored: {ceiling_async:.1f} docs/s")
    print(
        f"{'run':<24} {'docs/s':>7} {'x seq':>6} {'% cap':>6} {'% bare':>6} {'done':>5} "
        f"{'failed':>6} "
        f"{'req/doc':>7} {'prompt tok/doc':>14} {'est/billed prompt':>17} {'est/billed compl':>16}"
    )
    for name, r in rows:
        print(
            f"{name:<24} {r['docs_s']:>7.1f} {r['docs_s'] / base:>6.1f} "
            f"{100 * r['docs_s'] / capacity:>6.0f} {100 * r['docs_s'] / ceiling:>6.0f} "
            f"{r['done']:>5.0f} {r['failed']:>6.0f} "
            f"{r['requests'] / args.docs:>7.2f} {r['prompt_per_doc']:>14.1f} "
            f"{r['est_prompt']:>17.3f} {r['est_completion']:>16.3f}"
        )
    plain = dict(rows)["job, 1 doc/request"]["docs_s"]
    failing = dict(rows)["job, 10% answered 500"]["docs_s"]
    print(
        f"\nratio to the bare AsyncOpenAI loop on the same endpoint: plain "
        f"{plain / ceiling_async:.2f}; with 10 % answered 500 {failing / bare_500:.2f} "
        f"(bare loop there: {bare_500:.1f} docs/s, the SDK's own retries)"
    )
    print_paced(paced, args)
    if not args.skip_fewshot:
        print_fewshot(args)


def per_second_scenario(
    tmp: Path, docs: dict[str, str], gold: dict[str, list[str]], args: argparse.Namespace
) -> list[tuple[str, dict[str, float]]]:
    """A limit enforced over any 1-second window (Azure's way with per-minute limits), with
    the rpm stated on the connection, learned from x-ratelimit headers, or known to nobody."""
    rows = []
    n = args.per_second
    for name, rpm, announce in (
        ("rpm stated", n * 60, False),
        ("learned from headers", None, True),
        ("not known (429s only)", None, False),
    ):
        with endpoint(tmp, gold, args.latency, per_second=n, announce=announce) as url:
            rows.append((name, job(url, docs, rpm=rpm, concurrency=args.concurrency)))
    return rows


def print_paced(rows: list[tuple[str, dict[str, float]]], args: argparse.Namespace) -> None:
    floor = (args.docs - 1) / args.per_second
    print(
        f"\n{args.per_second} requests a second enforced over any 1 s window, {args.docs} "
        f"documents, {args.concurrency} in flight: the floor is {floor:.1f} s"
    )
    print(f"{'limit':<24} {'failed':>6} {'429s':>5} {'wall s':>7} {'x floor':>7}")
    for name, r in rows:
        print(
            f"{name:<24} {r['failed']:>6.0f} {r['throttled']:>5.0f} {r['wall']:>7.1f} "
            f"{r['wall'] / floor:>7.2f}"
        )


def print_fewshot(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = fewshot(args, Path(tmp))
    print(
        f"\nfew-shot on a big project: {args.labeled:,} labeled + {args.fewshot_docs} unlabeled "
        f"documents, {args.concurrency} in flight, each job in a fresh process"
    )
    print(
        f"{'run':<24} {'docs/s':>7} {'x zero':>6} {'peak RSS MiB':>12} {'done':>5} {'failed':>6}"
        f" {'prompt tok/doc':>14}"
    )
    zero = rows[0][1]["docs_s"] or float("nan")
    for name, r in rows:
        print(
            f"{name:<24} {r['docs_s']:>7.1f} {r['docs_s'] / zero:>6.2f} {r['rss_mib']:>12.0f} "
            f"{r['done']:>5.0f} {r['failed']:>6.0f} {r['prompt_per_doc']:>14.1f}"
        )


if __name__ == "__main__":
    main()
