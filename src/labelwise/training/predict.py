"""Classify new text with a trained model or a deployment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelwise.domain import LabelwiseError, content_hash
from labelwise.store import Store, trained
from labelwise.store.embeddings import StoreVectorCache
from labelwise.store.models import TrainedModel
from labelwise.store.projects import get_project
from labelwise.training.artifact import Artifact
from labelwise.training.features import features_for

MAX_DOCUMENTS = 25  # per request, as Azure allows
MAX_CHARACTERS = 125_000  # all documents of a request together


def check_request(texts: Sequence[str]) -> None:
    """Azure's limits for one prediction request, with the numbers in the message."""
    if not texts:
        raise LabelwiseError("give at least one document to classify")
    if len(texts) > MAX_DOCUMENTS:
        raise LabelwiseError(
            f"{len(texts)} documents in one request; the limit is "
            f"{MAX_DOCUMENTS}: send them in several requests"
        )
    total = sum(len(t) for t in texts)
    if total > MAX_CHARACTERS:
        raise LabelwiseError(
            f"{total:,} characters in one request; the limit is "
            f"{MAX_CHARACTERS:,} for all documents together"
        )
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise LabelwiseError(f"document {empty[0]} is empty")


def load_artifact(row: TrainedModel) -> Artifact:
    if row.arrays is None:
        raise LabelwiseError(f"model {row.name!r} has no arrays (status {row.status})")
    return Artifact.from_bytes(row.arrays, dict(row.config))


def resolve(
    store: Store, project_name: str, *, deployment: str | None = None, model: str | None = None
) -> tuple[str, Artifact]:
    """The model behind a deployment (or named directly), loaded and checked."""
    if (deployment is None) == (model is None):
        raise LabelwiseError("name either a deployment or a model")
    with store.session() as session:
        project = get_project(session, project_name)
        if deployment is not None:
            dep = trained.get_deployment(session, project, deployment)
            row = session.get(TrainedModel, dep.model_id)
            assert row is not None
        else:
            row = trained.ready_model(session, project, model or "")
        return row.name, load_artifact(row)


def classify(art: Artifact, texts: Sequence[str], cache: Any = None) -> list[dict[str, Any]]:
    """Per text: the predicted class(es) with confidence, and every class's score."""
    x = features_for(art, list(texts), [content_hash(t) for t in texts], cache)
    probs = art.probabilities(x)
    out = []
    for i, (row, chosen) in enumerate(zip(probs, art.decide(probs), strict=True)):
        out.append(
            {
                "id": str(i),
                # Azure's shape for both kinds: "class" lists the chosen classes
                "class": [{"category": c, "confidenceScore": round(p, 6)} for c, p in chosen],
                "scores": {c: round(float(p), 6) for c, p in zip(art.labels, row, strict=True)},
            }
        )
    return out


def predict(
    store: Store,
    project_name: str,
    texts: Sequence[str],
    *,
    deployment: str | None = None,
    model: str | None = None,
    limits: bool = False,
) -> list[dict[str, Any]]:
    """Classify ``texts``; ``limits`` applies the per-request limits of the REST API."""
    if limits:
        check_request(texts)
    _, art = resolve(store, project_name, deployment=deployment, model=model)
    return classify(art, texts, StoreVectorCache(store))
