"""A trained classifier without pickle: arrays in an ``.npz`` (loaded with
``allow_pickle=False``) and a JSON config that carries the arrays' SHA-256, so a model whose
bytes were changed is refused instead of run."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from labelwise.domain import LabelwiseError, ProjectKind

FORMAT = "labelwise-linear-v1"
ALGORITHMS = ("embedding-logreg", "tfidf-logreg")
Array = npt.NDArray[np.float64]


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
        except (ValueError, OSError) as exc:
            raise LabelwiseError(f"the model's arrays cannot be read ({exc})") from exc
        if sorted(arrays) != config.get("arrays"):
            raise LabelwiseError("the model's arrays are not the ones its config lists")
        labels = list(config["labels"])
        art = cls(
            kind=ProjectKind(config["kind"]),
            algorithm=config["algorithm"],
            labels=labels,
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            thresholds=arrays.get("thresholds"),
            vocabulary=list(config["vocabulary"]),
            idf=arrays.get("idf"),
            embedding_model=config.get("embedding_model", ""),
        )
        art.meta = {
            k: v
            for k, v in config.items()
            if k
            not in {
                "format",
                "kind",
                "algorithm",
                "labels",
                "vocabulary",
                "embedding_model",
                "arrays",
                "sha256",
            }
        }
        rows = 1 if len(labels) == 2 and art.kind == ProjectKind.SINGLE_LABEL else len(labels)
        if art.coef.shape[0] != rows or art.intercept.shape != (rows,):
            raise LabelwiseError("the model's arrays do not fit its labels")
        if art.idf is not None and art.coef.shape[1] != len(art.vocabulary):
            raise LabelwiseError("the model's vocabulary does not fit its arrays")
        return art

    # -- prediction -------------------------------------------------------------------------

    def probabilities(self, features: Array) -> Array:
        """(documents, classes) probabilities: softmax (single-label) or sigmoid (multi)."""
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
