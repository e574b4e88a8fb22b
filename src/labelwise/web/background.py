"""Long work of the server: autolabel jobs and trainings, run off the request threads.

The server is a worker like ``labelwise worker``: a thread runs every queued or running job of
the store (claims and heartbeats, see ``store.jobs``). So a job started from a page, and a job
whose process died (once its claims expire, or at once when that process was on this machine),
are run without anyone asking — the automatic resume on start-up.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from labelwise.jobs import runner
from labelwise.jobs.worker import work
from labelwise.store import Store, search
from labelwise.training.train import Training, complete_training

log = logging.getLogger("labelwise.web")
INDEX_POLL = 5.0  # seconds between looks for documents the search index has not taken in


class Background:
    def __init__(self, store: Store, poll: float = 1.0) -> None:
        self.store = store
        self.poll = poll
        self.worker = runner.worker_name()
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.trainings = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelwise-train")
        self.thread: threading.Thread | None = None
        self.indexer: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="labelwise-jobs", daemon=True)
        self.thread.start()
        self.indexer = threading.Thread(target=self._index, name="labelwise-search", daemon=True)
        self.indexer.start()

    def _index(self) -> None:
        """Bring the search index up to date (SQLite), a batch at a time, then look again
        every few seconds for documents imported since."""
        while not self.stop.is_set():
            try:
                with self.store.session() as session:
                    done = search.index_pending(session)
            except Exception:  # a busy database or a full disk: try again later
                log.exception("indexing documents for search failed")
                done = 0
            if not done:
                self.stop.wait(INDEX_POLL)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                work(self.store, worker=self.worker, poll=self.poll, stop=self.stop, wake=self.wake)
            except Exception:  # a job's failure must not stop the server's worker
                log.exception("background job failed")
                self.stop.wait(self.poll)

    def nudge(self) -> None:
        """A job was queued: look for work now instead of at the next poll."""
        self.wake.set()

    def train(self, training: Training) -> None:
        """Fit a training begun by the request; its row records the outcome (ready/failed)."""
        self.trainings.submit(complete_training, self.store, training)

    def shutdown(self) -> None:
        self.stop.set()
        self.wake.set()
        if self.thread:
            self.thread.join(30)
        if self.indexer:
            self.indexer.join(30)
        # a training cut short stays "training" until the next one sees its process is gone
        self.trainings.shutdown(wait=False, cancel_futures=True)
