"""A trained classifier without pickle: arrays in an ``.npz`` (loaded with
``allow_pickle=False``) and a JSON config that carries the arrays' SHA-256, so a model whose
bytes were changed is refused instead of run."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from labelwise.domain import LabelwiseError, ProjectKind

FORMAT = "labelwise-linear-v1"
ALGORITHMS = ("embedding-logreg", "tfidf-logreg")
Array = npt.NDArray[np.float64]
MAX_FEATURES = 2_000_000
CONFIG_KEYS = frozenset(
    {"format", "kind", "algorithm", "labels", "vocabulary", "embedding_model", "arrays", "sha256"}
)


@dataclass
class Artifact:
    """A linear classifier over embedding or TF-IDF features."""

    kind: ProjectKind
    algorithm: str
    labels: list[str]
    coef: Array  # (classes, features); one row for a 2-class single-label model
    intercept: Array
    thresholds: Array | None = None  # multi-label, per class
    vocabulary: list[str] = field(default_factory=list)  # tfidf
    idf: Array | None = None  # tfidf
    embedding_model: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> tuple[bytes, dict[str, Any]]:
        arrays: dict[str, Array] = {"coef": self.coef, "intercept": self.intercept}
        if self.thresholds is not None:
            arrays["thresholds"] = self.thresholds
        if self.idf is not None:
            arrays["idf"] = self.idf
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        data = buf.getvalue()
        config = {
            "format": FORMAT,
            "kind": self.kind.value,
            "algorithm": self.algorithm,
            "labels": self.labels,
            "vocabulary": self.vocabulary,
            "embedding_model": self.embedding_model,
            "arrays": sorted(arrays),
            "sha256": hashlib.sha256(data).hexdigest(),
            **self.meta,
        }
        return data, config

    @classmethod
    def from_bytes(cls, data: bytes, config: dict[str, Any]) -> Artifact:
        """Load and check a stored model; anything inconsistent is refused."""
        if config.get("format") != FORMAT:
            raise LabelwiseError(f"model format {config.get('format')!r} is not {FORMAT!r}")
        if hashlib.sha256(data).hexdigest() != config.get("sha256"):
            raise LabelwiseError(
                "the model's arrays do not match their SHA-256: the model was "
                "changed after training; train it again"
            )
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: np.array(npz[k], dtype=np.float64) for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise LabelwiseError(f"the model's arrays cannot be read ({exc})") from exc
        if sorted(arrays) != config.get("arrays"):
            raise LabelwiseError("the model's arrays are not the ones its config lists")
        try:
            art = cls._build(arrays, config)
        except (KeyError, TypeError, ValueError) as exc:
            raise LabelwiseError(
                f"the model's config is malformed ({exc!r:.100}); train again"
            ) from None
        art._check()
        return art

    @classmethod
    def _build(cls, arrays: dict[str, Array], config: dict[str, Any]) -> Artifact:
        labels = config["labels"]
        vocabulary = config["vocabulary"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise TypeError("labels must be a list of text")
        if not isinstance(vocabulary, list) or not all(isinstance(x, str) for x in vocabulary):
            raise TypeError("vocabulary must be a list of text")
        art = cls(
            kind=ProjectKind(config["kind"]),
            algorithm=str(config["algorithm"]),
            labels=list(labels),
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            thresholds=arrays.get("thresholds"),
            vocabulary=list(vocabulary),
            idf=arrays.get("idf"),
            embedding_model=str(config.get("embedding_model", "")),
        )
        art.meta = {k: v for k, v in config.items() if k not in CONFIG_KEYS}
        return art

    def _check(self) -> None:
        """Shapes, sizes and finite numbers: a model that passes predicts without NaN."""
        labels = self.labels
        if self.algorithm not in ALGORITHMS:
            raise LabelwiseError(f"the model's algorithm {self.algorithm!r} is unknown")
        if not labels or len(set(labels)) != len(labels):
            raise LabelwiseError("the model's labels are empty or repeated")
        rows = 1 if len(labels) == 2 and self.kind == ProjectKind.SINGLE_LABEL else len(labels)
        if (
            self.coef.ndim != 2
            or self.coef.shape[0] != rows
            or not 0 < self.coef.shape[1] <= MAX_FEATURES
            or self.intercept.shape != (rows,)
        ):
            raise LabelwiseError("the model's arrays do not fit its labels")
        if self.thresholds is not None and self.thresholds.shape != (len(labels),):
            raise LabelwiseError("the model's thresholds do not fit its labels")
        if self.idf is not None and (
            self.idf.shape != (len(self.vocabulary),) or self.coef.shape[1] != len(self.vocabulary)
        ):
            raise LabelwiseError("the model's vocabulary does not fit its arrays")
        for name, arr in (
            ("coef", self.coef),
            ("intercept", self.intercept),
            ("thresholds", self.thresholds),
            ("idf", self.idf),
        ):
            if arr is not None and not np.isfinite(arr).all():
                raise LabelwiseError(f"the model's {name} holds NaN or infinite numbers")

    # -- prediction -------------------------------------------------------------------------

    def probabilities(self, features: Array) -> Array:
        """(documents, classes) probabilities: softmax (single-label) or sigmoid (multi)."""
        if features.ndim != 2 or features.shape[1] != self.coef.shape[1]:
            raise LabelwiseError(
                f"the model expects {self.coef.shape[1]} features per document, not "
                f"{features.shape[-1]}; it was trained with another encoder: train it again"
            )
        z = features @ self.coef.T + self.intercept
        if self.kind == ProjectKind.MULTI_LABEL:
            return 1 / (1 + np.exp(-z))
        if z.shape[1] == 1:  # binary: one decision function
            p = 1 / (1 + np.exp(-z[:, 0]))
            return np.stack([1 - p, p], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def decide(self, probs: Array) -> list[list[tuple[str, float]]]:
        """Per document the predicted classes with their confidence, best first."""
        out = []
        for row in probs:
            order = np.argsort(-row)
            if self.kind == ProjectKind.SINGLE_LABEL:
                out.append([(self.labels[int(order[0])], float(row[order[0]]))])
                continue
            thr = self.thresholds if self.thresholds is not None else np.full(len(row), 0.5)
            chosen = [(self.labels[int(j)], float(row[j])) for j in order if row[j] >= thr[j]]
            out.append(chosen)
        return out
