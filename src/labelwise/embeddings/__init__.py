"""Sentence embeddings shared by the labelers and training: encoders (models shipped in
packages, see ``registry``) and a cache of vectors keyed by model and content hash."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from labelwise.embeddings.encoder import Encoder, Matrix


class TextEncoder(Protocol):
    """What the labelers and training need of an encoder: L2-normalized vectors of texts."""

    model_id: str  # names the vectors in the cache; changes when the vectors would
    dim: int

    def encode(self, texts: Sequence[str]) -> Matrix: ...

    def count_tokens(self, text: str) -> int: ...


class VectorCache(Protocol):
    """Where document embeddings are kept between runs (keyed by content hash and model)."""

    def get_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, Matrix]: ...

    def put_vectors(self, model: str, vectors: dict[str, Matrix]) -> None: ...


def embed_cached(
    encoder: TextEncoder,
    texts: Sequence[str],
    hashes: Sequence[str] | None,
    cache: VectorCache | None,
) -> Matrix:
    """Embeddings of ``texts``: cached ones (by content hash and model) are read, the others
    computed and written to the cache."""
    if cache is None or hashes is None:
        return encoder.encode(texts)
    have = cache.get_vectors(encoder.model_id, [h for h in hashes if h])
    missing = [i for i, h in enumerate(hashes) if not h or h not in have]
    fresh = encoder.encode([texts[i] for i in missing])
    new = {hashes[i]: fresh[k] for k, i in enumerate(missing) if hashes[i]}
    if new:
        cache.put_vectors(encoder.model_id, new)
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    for k, i in enumerate(missing):
        out[i] = fresh[k]
    for i, h in enumerate(hashes):
        if h in have:
            out[i] = have[h]
    return out


__all__ = ["Encoder", "Matrix", "TextEncoder", "VectorCache", "embed_cached"]
