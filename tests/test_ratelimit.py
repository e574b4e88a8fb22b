"""The shared RPM/TPM limiter, on an injected clock (no waiting in tests)."""

from __future__ import annotations

import pytest

from labelwise.labelers.ratelimit import RateLimiter


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
