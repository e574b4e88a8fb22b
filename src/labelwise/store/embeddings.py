"""Caches in the store: document embeddings by (model, content hash), and LLM answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from labelwise.store.db import Store
from labelwise.store.models import Embedding

CHUNK = 500


class StoreVectorCache:
    """:class:`labelwise.labelers.embedding.VectorCache` on the project store."""

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
        dialect = self.store.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(Embedding).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(Embedding).on_conflict_do_nothing()
        with self.store.session() as session:
            for i in range(0, len(rows), CHUNK):
                session.execute(stmt, rows[i : i + CHUNK])


class StoreAnswerCache:
    """:class:`labelwise.labelers.openai.AnswerCache` on the project store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_answer(self, key: str) -> dict[str, Any] | None:
        from labelwise.store.models import LlmAnswer

        with self.store.session() as session:
            answer = session.scalar(select(LlmAnswer.answer).where(LlmAnswer.key == key))
        return dict(answer) if answer is not None else None

    def put_answer(self, key: str, answer: dict[str, Any]) -> None:
        from labelwise.store.models import LlmAnswer

        if self.store.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(LlmAnswer).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(LlmAnswer).on_conflict_do_nothing()
        with self.store.session() as session:
            session.execute(stmt, [{"key": key, "answer": answer}])
