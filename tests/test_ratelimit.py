"""Pacing: the RPM/TPM limiter on an injected clock (no waiting in tests), its slots shared in
memory and in the database, limits learned from headers, and the adaptive gate."""

from __future__ import annotations

import pytest

from labelwise.labelers.ratelimit import (
    MARGIN,
    AdaptiveGate,
    MemorySchedule,
    RateLimiter,
    parse_duration,
)
from labelwise.store import Store
from labelwise.store.pacing import StoreSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_requests_are_spaced_evenly_never_in_a_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=120, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(6)]
    gap = 0.5 * MARGIN
    assert waits == pytest.approx([0.0, gap, gap, gap, gap, gap])  # no minute's burst
    sent = [i * gap for i in range(6)]
    assert max(sum(t <= s < t + 1.0 for s in sent) for t in sent) == 2  # any 1 s window
    clock.now += 30  # idle time is not saved up for a burst later
    assert limiter.acquire() == 0.0 and limiter.acquire() == pytest.approx(gap)


def test_tokens_per_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=1200, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(600) == 0  # 600 tokens take half a minute's allowance
    assert limiter.acquire(100) == pytest.approx(30.0 * MARGIN)
    assert limiter.acquire(5000) == pytest.approx(5.0 * MARGIN)  # the 100 tokens' slot


def test_no_limits_never_waits() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert all(limiter.acquire(10**6) == 0 for _ in range(1000))
    assert clock.slept == []


def test_two_limiters_on_one_schedule_share_the_limit() -> None:
    """Two workers of a connection: together they stay at its pace."""
    clock = Clock()
    shared = MemorySchedule()
    a, b = (
        RateLimiter(rpm=60, schedule=shared, key="c:", clock=clock, sleep=lambda s: None)
        for _ in range(2)
    )
    assert [a.acquire(), b.acquire(), a.acquire(), b.acquire()] == pytest.approx(
        [0.0, MARGIN, 2 * MARGIN, 3 * MARGIN]
    )


def test_limits_are_learned_from_the_headers_unless_stated() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.observe({"x-ratelimit-limit-requests": "600", "x-ratelimit-limit-tokens": "90000"})
    assert (limiter.rpm, limiter.tpm, limiter.learned) == (600, 90000, True)
    stated = RateLimiter(rpm=60, clock=clock, sleep=clock.sleep)
    stated.observe({"x-ratelimit-limit-requests": "600"})
    assert stated.rpm == 60  # the connection's own figure wins
    # nothing left, with a limit known: the pace spreads the requests, no pause
    limiter.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"})
    assert limiter.hold_until == 0.0
    # nothing left and no limit to pace by: every request waits for the reset
    blind = RateLimiter(clock=clock, sleep=clock.sleep)
    blind.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"})
    assert blind.hold_until == pytest.approx(60.0)  # at most a minute
    assert blind.acquire() == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("0.5", 0.5), ("1h2m", 3720.0), ("x", None)],
)
def test_reset_durations(value: str, seconds: float | None) -> None:
    assert parse_duration(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_the_store_schedule_is_one_row_per_limit(store: Store) -> None:
    schedule = StoreSchedule(store)
    assert schedule.advance("k:requests", 100.0, 0.5) == 100.5
    assert schedule.advance("k:requests", 100.1, 0.5) == 101.0  # after the previous slot
    assert schedule.advance("k:requests", 200.0, 0.5) == 200.5  # idle: from now
    assert schedule.advance("other:requests", 100.0, 2.0) == 102.0


def test_adaptive_gate_halves_once_per_pause_and_recovers() -> None:
    clock = Clock()
    gate = AdaptiveGate(16, clock=clock)
    for _ in range(16):
        gate.acquire()
    assert gate.in_flight == 16
    gate.throttled(2.0)
    gate.throttled(2.0)  # the other requests in flight come back 429 too: still one halving
    assert (gate.limit, gate.throttles, gate.paused_until) == (8.0, 1, 2.0)
    for _ in range(16):
        gate.release(ok=False)
    clock.now = 2.5
    for _ in range(8):  # the pause is over: 8 at once now
        gate.acquire()
    assert gate.in_flight == 8
    for _ in range(8):
        gate.release(ok=True)
    assert 8.0 < gate.limit < 9.0  # successes give back a little at a time
    gate.throttled(0.0)
    assert gate.limit == pytest.approx(max(1.0, 8.96 / 2), abs=0.1)
