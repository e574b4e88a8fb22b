"""The one labeling loop: every run of a labeler over documents goes through it.

``labelwise suggest`` (no job record) and the job runner (claims, budgets, resumable) are its
two clients. The loop keeps the labeler's requests in flight (one request's documents at a time,
as many at once as the connection allows; local labelers take large chunks one at a time),
hands each wave of answers to the client to store, and stops when there is nothing more to
take, when the client says stop, or when the budget refuses the next request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum

from labelwise.costs import BudgetReached
from labelwise.domain import DocInput, LabelTask
from labelwise.labelers.base import Labeler, Outcome

LOCAL_CHUNK = 128  # documents per call of a local labeler (it batches them itself)


class Stopped(StrEnum):
    """Why the loop ended."""

    DONE = "done"  # nothing more to take
    ASKED = "asked"  # the client's ``keep_going`` said stop (a cancel, another worker ended it)
    BUDGET = "budget"  # the next request could pass the budget


@dataclass
class Answered:
    """One request's documents and what the labeler answered for them."""

    ids: list[int]
    outcomes: list[Outcome]


def pipeline(labeler: Labeler) -> tuple[int, int]:
    """(documents per call, calls in flight): a request's documents, and for LLMs twice the
    connection's concurrency, so that calls waiting out a retry's backoff do not leave the
    connection idle (the labeler's own gate keeps the requests on the wire at the
    concurrency); local labelers take large chunks one at a time."""
    if not labeler.needs_network:
        return LOCAL_CHUNK, 1
    opts = labeler.options
    return (
        max(1, int(getattr(opts, "docs_per_request", 1) or 1)),
        2 * max(1, int(getattr(opts, "concurrency", 1) or 1)),
    )


class LabelingLoop:
    """Drive ``labeler`` over the documents a client hands it, a wave at a time."""

    def __init__(self, labeler: Labeler, task: LabelTask) -> None:
        self.labeler = labeler
        self.task = task
        self.chunk, self.in_flight = pipeline(labeler)

    def run(
        self,
        take: Callable[[int], list[DocInput]],
        store: Callable[[list[Answered]], None],
        *,
        keep_going: Callable[[], bool] = lambda: True,
        beat: Callable[[], None] = lambda: None,
        beat_every: float = 15.0,
    ) -> Stopped:
        """Label until ``take(n)`` (up to ``n`` more documents) gives none, ``keep_going()``
        (asked once a wave) says stop, or the budget refuses the next request.

        ``store`` gets every wave of answers as it arrives (the client commits them);
        ``beat`` is called every ``beat_every`` seconds while requests are out (claims to
        renew). A call that raised (a labeler that cannot work) is raised after the wave's
        other answers are stored; a call refused by the budget sent nothing, and its
        documents are simply not answered."""
        inflight: dict[Future[list[Outcome]], list[int]] = {}
        stopped = Stopped.DONE
        last_beat = time.monotonic()

        def fill(pool: ThreadPoolExecutor) -> None:
            nonlocal stopped
            if stopped != Stopped.DONE:
                return
            if not keep_going():
                stopped = Stopped.ASKED
                return
            while len(inflight) < self.in_flight:
                budget = self.labeler.budget
                if budget is not None and budget.refused:
                    stopped = Stopped.BUDGET
                    return
                docs = take(self.chunk)
                if not docs:
                    return
                inflight[pool.submit(self.labeler.label, self.task, docs)] = [d.id for d in docs]

        try:
            with ThreadPoolExecutor(max_workers=self.in_flight) as pool:
                fill(pool)
                while inflight:
                    finished, _ = wait(inflight, timeout=beat_every, return_when=FIRST_COMPLETED)
                    if time.monotonic() - last_beat > beat_every:
                        beat()
                        last_beat = time.monotonic()
                    if not finished:
                        continue
                    answered: list[Answered] = []
                    error: BaseException | None = None
                    for future in finished:
                        ids = inflight.pop(future)
                        try:
                            answered.append(Answered(ids, future.result()))
                        except BudgetReached:
                            pass  # nothing sent
                        except Exception as exc:
                            error = error or exc
                    store(answered)  # committed as they arrive
                    self.labeler.flush()  # cached answers, written from this thread
                    if error is not None:
                        raise error
                    fill(pool)
        finally:
            self.labeler.flush()
        return stopped
