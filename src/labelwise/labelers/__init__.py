"""Labelers: one small interface (:class:`Labeler`) and a registry of backends.

The registry maps a name to ``module:Class`` so that a backend's heavy imports (onnxruntime,
openai) happen only when it is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from labelwise.domain import LabelwiseError
from labelwise.labelers.base import Labeler, Outcome, Prediction

REGISTRY: dict[str, str] = {
    "embedding": "labelwise.labelers.embedding:EmbeddingLabeler",
    "openai": "labelwise.labelers.openai:OpenAILabeler",
    "model": "labelwise.labelers.model:ModelLabeler",
}
ALIASES = {"embedded": "embedding"}


def labeler_class(name: str) -> type[Labeler]:
    """The backend class registered as ``name`` (``embedded`` is an alias of ``embedding``)."""
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        known = ", ".join(sorted({*REGISTRY, *ALIASES}))
        raise LabelwiseError(f"labeler {name!r} is unknown; use one of {known}")
    module, _, attr = REGISTRY[key].partition(":")
    cls: type[Labeler] = getattr(import_module(module), attr)
    return cls


def create_labeler(name: str, **kwargs: Any) -> Labeler:
    return labeler_class(name)(**kwargs)


__all__ = ["REGISTRY", "Labeler", "Outcome", "Prediction", "create_labeler", "labeler_class"]
