"""A requests-per-minute and tokens-per-minute limit shared by every request of a labeler.

Two token buckets refilled continuously; ``acquire`` waits until both have room. The clock and
the sleep are injectable so that the arithmetic is tested without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        now = clock()
        # start full: a burst of up to a minute's allowance is fine for the provider
        self._requests = float(rpm or 0)
        self._tokens = float(tpm or 0)
        self._at = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)
        self._at = now
        if self.rpm:
            self._requests = min(float(self.rpm), self._requests + elapsed * self.rpm / 60)
        if self.tpm:
            self._tokens = min(float(self.tpm), self._tokens + elapsed * self.tpm / 60)

    def wait_time(self, tokens: int) -> float:
        """Seconds until one request of ``tokens`` tokens fits (0 if it fits now)."""
        with self._lock:
            self._refill(self._clock())
            waits = [0.0]
            if self.rpm and self._requests < 1:
                waits.append((1 - self._requests) * 60 / self.rpm)
            if self.tpm:
                need = min(float(tokens), float(self.tpm))  # a huge request waits for a full bucket
                if self._tokens < need:
                    waits.append((need - self._tokens) * 60 / self.tpm)
            return max(waits)

    def acquire(self, tokens: int = 0) -> float:
        """Block until the request may go; returns the seconds waited."""
        waited = 0.0
        while True:
            delay = self.wait_time(tokens)
            if delay <= 0:
                with self._lock:
                    self._refill(self._clock())
                    if self.rpm:
                        self._requests -= 1
                    if self.tpm:
                        self._tokens -= min(float(tokens), float(self.tpm))
                return waited
            self._sleep(delay)
            waited += delay


class AdaptiveGate:
    """How many requests of a labeler may be in flight, adapted to the provider: a 429 halves
    the number allowed at once and holds every request back for its ``Retry-After``; each
    success gives a little back (additive increase, multiplicative decrease), up to the
    connection's concurrency. So one 429 slows the whole job down, not just one request."""

    def __init__(self, ceiling: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = float(self.ceiling)
        self.in_flight = 0
        self.paused_until = 0.0
        self.throttles = 0
        self._clock = clock
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while True:
                now = self._clock()
                if now < self.paused_until:
                    self._cond.wait(self.paused_until - now)
                elif self.in_flight < int(self.limit):
                    self.in_flight += 1
                    return
                else:
                    self._cond.wait(0.5)

    def release(self, *, ok: bool) -> None:
        with self._cond:
            self.in_flight -= 1
            if ok:
                self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)
            self._cond.notify_all()

    def throttled(self, retry_after: float) -> None:
        """The provider said 429: pause everyone for ``retry_after`` seconds, and halve the
        requests at once (once per pause, however many requests come back 429 together)."""
        with self._cond:
            now = self._clock()
            if now >= self.paused_until:
                self.limit = max(1.0, self.limit / 2)
                self.throttles += 1
            self.paused_until = max(self.paused_until, now + retry_after)
            self._cond.notify_all()
