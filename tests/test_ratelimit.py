"""The shared RPM/TPM limiter, on an injected clock (no waiting in tests)."""

from __future__ import annotations

import pytest

from labelwise.labelers.ratelimit import AdaptiveGate, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_requests_per_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, clock=clock, sleep=clock.sleep)
    for _ in range(60):  # a minute's allowance goes at once
        assert limiter.acquire() == 0
    assert limiter.acquire() == pytest.approx(1.0)  # then one a second
    assert limiter.acquire() == pytest.approx(1.0)
    clock.now += 30
    waits = [limiter.acquire() for _ in range(31)]
    assert waits[:30] == [0] * 30 and waits[30] == pytest.approx(1.0)


def test_tokens_per_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=1200, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(1000) == 0
    assert limiter.acquire(400) == pytest.approx(10.0)  # 200 left, 200 more take 10 s
    assert limiter.acquire(5000) == pytest.approx(60.0)  # bigger than a minute: a full bucket


def test_no_limits_never_waits() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert all(limiter.acquire(10**6) == 0 for _ in range(1000))
    assert clock.slept == []


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
