"""The store's cache of LLM answers, by a hash of (connection, model, prompt version, prompt):
the same request to the same model is answered from here, free."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from labelwise.store.db import Store
from labelwise.store.embeddings import insert_ignoring_duplicates
from labelwise.store.models import LlmAnswer


class StoreAnswerCache:
    """:class:`labelwise.labelers.openai.AnswerCache` on the project store. New answers wait in
    memory until :meth:`flush` (or until ``FLUSH_AT`` have gathered), so that the threads
    sending requests do not queue for the database's write lock one answer at a time."""

    FLUSH_AT = 64

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get_answer(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if key in self._pending:
                return dict(self._pending[key])
        with self.store.session() as session:
            answer = session.scalar(select(LlmAnswer.answer).where(LlmAnswer.key == key))
        return dict(answer) if answer is not None else None

    def put_answer(self, key: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self._pending[key] = answer
            full = len(self._pending) >= self.FLUSH_AT
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, {}
        if rows:
            stmt = insert_ignoring_duplicates(self.store, LlmAnswer)
            with self.store.session() as session:
                session.execute(stmt, [{"key": k, "answer": a} for k, a in rows.items()])
