"""Pacing: the requests-per-minute and tokens-per-minute limits of a connection, and how many
requests may be in flight.

:class:`RateLimiter` spaces requests evenly (a generic cell rate algorithm: each request is
given the next free slot, ``60 / rpm`` seconds after the one before, and tokens likewise), so
no short window ever sees a burst: providers such as Azure OpenAI enforce their per-minute
limits over windows of one or ten seconds. The slots live in a :class:`Schedule`: in memory for
one process, or in the database (``labelwise.store.pacing``) so that the workers of a team
share one limit. Limits the connection does not state are learned from the provider's
``x-ratelimit-*`` headers. The clock and the sleep are injectable, so the arithmetic is tested
without waiting.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

MARGIN = 1.02  # slots 2 % wider than the limit: network jitter seldom makes requests collide
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


class Schedule(Protocol):
    """Where the next free slot of each limit is kept (shared by whoever shares the limit)."""

    def advance(self, key: str, now: float, interval: float) -> float:
        """Atomically: the key's slot becomes ``max(slot, now) + interval``; return it."""


class MemorySchedule:
    """The slots of one process."""

    def __init__(self) -> None:
        self._slots: dict[str, float] = {}
        self._lock = threading.Lock()

    def advance(self, key: str, now: float, interval: float) -> float:
        with self._lock:
            slot = max(self._slots.get(key, now), now) + interval
            self._slots[key] = slot
            return slot


def parse_duration(value: str | None) -> float | None:
    """Seconds of an ``x-ratelimit-reset-*`` value: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = DURATION.findall(value)
    if not parts or "".join(a + b for a, b in parts) != value:
        return None
    return sum(float(a) * scale[b] for a, b in parts)


def _int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(float(headers[name]))
    except (KeyError, TypeError, ValueError):
        return None


class RateLimiter:
    """Requests and tokens per minute, paced: each request waits for its slot."""

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        schedule: Schedule | None = None,
        key: str = "",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rpm, self.tpm = rpm, tpm
        self.stated = (rpm, tpm)  # what the connection says; learned limits never override it
        self.schedule = schedule or MemorySchedule()
        self.key = key
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self.hold_until = 0.0  # the provider said nothing is left until then
        self.learned = False

    @property
    def active(self) -> bool:
        return bool(self.rpm or self.tpm)

    def acquire(self, tokens: int = 0) -> float:
        """Block until the request's slot; returns the seconds waited."""
        now = self._clock()
        start = send_at = max(now, self.hold_until)  # slots after a pause, not a burst at its end
        rpm, tpm = self.rpm, self.tpm
        if rpm:
            interval = 60.0 / rpm * MARGIN
            send_at = max(
                send_at, self.schedule.advance(self.key + "requests", start, interval) - interval
            )
        if tpm and tokens:
            interval = min(float(tokens), float(tpm)) * 60.0 / tpm * MARGIN
            send_at = max(
                send_at, self.schedule.advance(self.key + "tokens", start, interval) - interval
            )
        wait = send_at - now
        if wait > 0:
            self._sleep(wait)
        return max(0.0, wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take in a response's ``x-ratelimit-*`` headers: the limits the connection does not
        state, and a pause until the reset when nothing is left."""
        with self._lock:
            for kind in ("requests", "tokens"):
                limit = _int(headers, f"x-ratelimit-limit-{kind}")
                stated = self.stated[0] if kind == "requests" else self.stated[1]
                if limit and limit > 0 and stated is None:
                    if kind == "requests":
                        self.rpm = limit
                    else:
                        self.tpm = limit
                    self.learned = True
                known = self.rpm if kind == "requests" else self.tpm
                if not known and _int(headers, f"x-ratelimit-remaining-{kind}") == 0:
                    # nothing left and no limit to pace by: wait for the reset (with a limit,
                    # the pace already spreads the requests over it)
                    reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
                    if reset:
                        self.hold_until = max(self.hold_until, self._clock() + min(reset, 60.0))


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
