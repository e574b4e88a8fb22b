"""Rate limits against a loopback server that enforces them over any 1-second window (as Azure
OpenAI enforces per-minute limits): requests are paced, not sent in bursts that come back 429;
limits the connection does not state are learned from the x-ratelimit headers; a 429 never
fails a document while its deadline holds; two workers share one limit through PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from labelwise.jobs import runner
from labelwise.store import Store, open_store
from labelwise.store import jobs as svc
from labelwise.store.llm import add_connection
from labelwise.store.models import JobItem
from tests.helpers import make_project
from tests.llm_server import FakeLLM, Server

DOCS = {f"d{i:02d}": f"note {i} about {'abc'[i % 3]}" for i in range(20)}
GOLD = {text: ["abc"[i % 3]] for i, text in enumerate(DOCS.values())}
PER_SECOND = 4


@pytest.fixture
def limited() -> Iterator[tuple[Server, FakeLLM]]:
    fake = FakeLLM(gold=GOLD, per_second=PER_SECOND, latency=0.05)
    with Server(fake) as server:
        yield server, fake


def _project(store: Store, server: Server, rpm: int | None) -> int:
    make_project(store, classes=("a", "b", "c"), docs=DOCS)
    with store.session() as s:
        add_connection(
            s,
            "limited",
            "openai",
            server.url + "/v1",
            "gpt-4o-mini",
            api_key_env="LABELWISE_TEST_NO_API_KEY",
            rpm=rpm,
        )
    options = {"docs_per_request": 1, "concurrency": 8, "few_shot": 0}
    return runner.create(store, "p", "openai", llm="limited", options=options)


def _busiest_second(fake: FakeLLM) -> int:
    times = sorted(r["at"] for r in fake.requests)
    return max(sum(t <= u < t + 1.0 for u in times) for t in times)


def test_a_stated_limit_is_paced_not_burst(store: Store, limited: tuple[Server, FakeLLM]) -> None:
    server, fake = limited
    job_id = _project(store, server, rpm=PER_SECOND * 60)
    started = time.monotonic()
    job = runner.run(store, job_id)
    wall = time.monotonic() - started
    assert (job.status, job.done, job.failed) == ("succeeded", 20, 0)
    # 8 in flight would burst into a 429 for most requests; paced, a rare one is left when
    # a thread wakes late (the target: at most five)
    assert fake.throttled <= 5, fake.throttled
    assert _busiest_second(fake) <= PER_SECOND
    floor = (len(DOCS) - 1) / PER_SECOND
    assert floor <= wall <= floor * 1.25 + 1.0  # at the limit's pace, not slower


def test_unstated_limits_are_learned_from_the_headers(
    store: Store, limited: tuple[Server, FakeLLM]
) -> None:
    server, fake = limited
    fake.announce = True
    job_id = _project(store, server, rpm=None)
    job = runner.run(store, job_id)
    assert (job.status, job.done, job.failed) == ("succeeded", 20, 0)
    assert fake.throttled <= 5, fake.throttled  # the first request alone, then paced
    assert _busiest_second(fake) <= PER_SECOND


def test_a_429_never_fails_a_document_before_its_deadline(store: Store) -> None:
    fake = FakeLLM(gold=GOLD)
    fake.faults.extend(["429:0"] * 9)  # more 429s in a row than max_retries (5)
    with Server(fake) as server:
        make_project(store, classes=("a", "b", "c"), docs=dict(list(DOCS.items())[:1]))
        with store.session() as s:
            add_connection(
                s, "l", "openai", server.url + "/v1", "m", api_key_env="LABELWISE_TEST_NO_API_KEY"
            )
        job_id = runner.create(
            store, "p", "openai", llm="l", options={"few_shot": 0, "concurrency": 1}
        )
        job = runner.run(store, job_id)
    assert (job.done, job.failed) == (1, 0)
    assert len(fake.requests) == 10  # nine 429s, then the answer
    fake = FakeLLM(gold=GOLD)
    fake.faults.extend(["500"] * 9)  # other errors still give up after max_retries
    with Server(fake) as server:
        with store.session() as s:
            add_connection(
                s, "l2", "openai", server.url + "/v1", "m2", api_key_env="LABELWISE_TEST_NO_API_KEY"
            )
        job_id = runner.create(
            store, "p", "openai", llm="l2", options={"few_shot": 0, "concurrency": 1}
        )
        job = runner.run(store, job_id)
    assert job.failed == 1 and len(fake.requests) == 6  # the first try and five retries


def test_two_workers_share_one_limit(
    db_url: str, store: Store, limited: tuple[Server, FakeLLM]
) -> None:
    """Team mode: two workers of one job, each with its own labeler and connection pool; the
    slots live in the database, so together they keep the connection's pace."""
    if db_url.startswith("sqlite"):
        pytest.skip("team mode is for PostgreSQL (SQLite serialises its writers)")
    server, fake = limited
    job_id = _project(store, server, rpm=PER_SECOND * 60)
    other = open_store(db_url)
    errors: list[BaseException] = []

    def work(on: Store, name: str) -> None:
        try:
            runner.run(on, job_id, worker=name)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(on, name))
        for on, name in ((store, "w1"), (other, "w2"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.dispose()
    assert not errors, errors
    with store.session() as s:
        job = svc.get_job(s, job_id)
        assert (job.status, job.done, job.failed) == ("succeeded", 20, 0)
        workers = Counter(s.scalars(select(JobItem.claimed_by)))
    assert len(workers) == 2, workers  # both took part
    assert fake.throttled <= 5, fake.throttled  # the target: at most five 429s
    assert _busiest_second(fake) <= PER_SECOND


def test_the_job_says_what_it_is_retrying_while_it_retries(store: Store) -> None:
    fake = FakeLLM(gold=GOLD)
    fake.faults.extend([None, "500", "500", "500"])  # type: ignore[list-item]
    with Server(fake) as server:
        make_project(store, classes=("a", "b", "c"), docs=dict(list(DOCS.items())[:4]))
        with store.session() as s:
            add_connection(
                s, "l", "openai", server.url + "/v1", "m", api_key_env="LABELWISE_TEST_NO_API_KEY"
            )
        job_id = runner.create(
            store, "p", "openai", llm="l", options={"few_shot": 0, "concurrency": 1}
        )
        seen: list[str] = []

        def listen(progress: runner.JobProgress) -> None:
            seen.append(runner.show(store, job_id)["reason"])

        job = runner.run(store, job_id, listen)
    assert (job.status, job.done) == ("succeeded", 4)
    retrying = [r for r in seen if r]
    assert retrying and retrying[0].startswith("retrying after InternalServerError: ")
    assert "Error code: 500" in retrying[0] and " in " in retrying[0]  # the next try's wait
    assert job.reason == ""  # news of a retry is not why the job ended
