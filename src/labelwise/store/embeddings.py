"""The store's cache of document embeddings, by (model, content hash)."""

from __future__ import annotations

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
