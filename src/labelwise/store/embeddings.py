"""Caches in the store: document embeddings by (model, content hash), and LLM answers."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from labelwise.store.db import Store
from labelwise.store.models import Embedding

CHUNK = 500


def insert_ignoring_duplicates(store: Store, model: type[Any]) -> Any:
    """An INSERT that skips rows whose unique key is already stored (a cache's first write
    wins; concurrent writers do not fail)."""
    if store.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model).on_conflict_do_nothing()


class StoreVectorCache:
    """:class:`labelwise.embeddings.VectorCache` on the project store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, npt.NDArray[Any]] = {}
        with self.store.session() as session:
            for i in range(0, len(wanted), CHUNK):
                rows = session.execute(
                    select(Embedding.content_hash, Embedding.vector).where(
                        Embedding.model == model,
                        Embedding.content_hash.in_(wanted[i : i + CHUNK]),
                    )
                )
                for digest, blob in rows:
                    found[digest] = np.frombuffer(blob, dtype="<f4")
        return found

    def put_vectors(self, model: str, vectors: dict[str, npt.NDArray[Any]]) -> None:
        rows = [
            {"model": model, "content_hash": h, "vector": np.asarray(v, dtype="<f4").tobytes()}
            for h, v in vectors.items()
        ]
        if not rows:
            return
        stmt = insert_ignoring_duplicates(self.store, Embedding)
        with self.store.session() as session:
            for i in range(0, len(rows), CHUNK):
                session.execute(stmt, rows[i : i + CHUNK])


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
        from labelwise.store.models import LlmAnswer

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
        from labelwise.store.models import LlmAnswer

        with self._lock:
            rows, self._pending = self._pending, {}
        if rows:
            stmt = insert_ignoring_duplicates(self.store, LlmAnswer)
            with self.store.session() as session:
                session.execute(stmt, [{"key": k, "answer": a} for k, a in rows.items()])
