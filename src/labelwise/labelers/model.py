"""A trained project model used as a labeler: the next round of suggestions comes from the
project's own classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelwise.domain import DocInput, LabelTask, content_hash
from labelwise.labelers.base import Labeler, Outcome, Prediction


class ModelLabeler(Labeler):
    """Suggests what a trained model (:class:`labelwise.training.artifact.Artifact`) predicts."""

    name = "model"

    def __init__(self, artifact: Any, model_name: str, *, cache: Any = None) -> None:
        super().__init__()
        self.artifact = artifact
        self.model_name = model_name
        self.cache = cache

    @property
    def model_id(self) -> str:
        return self.model_name

    @property
    def prompt_version(self) -> str:
        return f"{self.artifact.algorithm}:{self.artifact.meta.get('training_data_hash', '')[:12]}"

    def label(self, task: LabelTask, docs: Sequence[DocInput]) -> list[Outcome]:
        from labelwise.training.features import features_for

        if not docs:
            return []
        allowed = set(task.class_names)
        x = features_for(
            self.artifact,
            [d.text for d in docs],
            [d.content_hash or content_hash(d.text) for d in docs],
            self.cache,
        )
        probs = self.artifact.probabilities(x)
        decided = self.artifact.decide(probs)
        out = []
        for doc, row, chosen in zip(docs, probs, decided, strict=True):
            if self.artifact.kind == "single_label":
                ranked = sorted(zip(self.artifact.labels, row, strict=True), key=lambda t: -t[1])
                chosen = [
                    next(
                        ((c, float(p)) for c, p in ranked if c in allowed and c not in doc.exclude),
                        ("", 0.0),
                    )
                ]
            preds = [
                Prediction(c, round(p, 6))
                for c, p in chosen
                if c and c in allowed and c not in doc.exclude
            ]
            out.append(Outcome(doc.id, preds, confidence_source="model probability"))
        return out
