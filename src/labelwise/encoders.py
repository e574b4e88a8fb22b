"""Change a project's sentence encoder: check that it loads, record it, and queue the job that
embeds the project's documents with it (the embedded labeler's autolabel job, so the work is
persisted, resumable, shown with progress, and leaves fresh suggestions behind)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from labelwise.domain import LabelwiseError
from labelwise.embeddings.registry import ENCODERS, check_encoder, get_encoder
from labelwise.store import Store
from labelwise.store.projects import get_project


@dataclass(frozen=True)
class EncoderChange:
    project: str
    encoder: str
    previous: str
    job_id: int | None  # the re-embedding job; None when nothing changed or there are no classes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def encoder_table() -> list[dict[str, Any]]:
    """The encoders this version offers, with their languages, models and licences."""
    return [
        {
            "name": e.name,
            "languages": e.languages,
            "model": e.model,
            "package": e.package,
            "licence": e.licence,
            "window": e.window,
            "install": e.install,
        }
        for e in ENCODERS.values()
    ]


def set_encoder(store: Store, project_name: str, name: str) -> EncoderChange:
    """Make ``name`` the encoder of ``project_name`` and queue the re-embedding of its
    unlabeled documents (the labeled ones are embedded when a labeler or a training first
    needs them). The encoder is loaded first: a missing package fails here, before anything
    is changed."""
    from labelwise.jobs import runner

    check_encoder(name)
    with store.session() as session:
        previous = get_project(session, project_name).encoder
    if previous == name:
        return EncoderChange(project_name, name, previous, None)
    try:
        get_encoder(name).encode(["a test sentence"])
    except LabelwiseError:
        raise
    except Exception as exc:  # a broken install: say which encoder and why
        raise LabelwiseError(f"encoder {name!r} did not load: {exc}") from exc
    with store.session() as session:
        project = get_project(session, project_name)
        project.encoder = name
        has_classes = bool(project.classes)
    # without classes there is nothing to suggest: the documents are embedded when first needed
    job_id = (
        runner.create(store, project_name, "embedding", docs="unlabeled") if has_classes else None
    )
    return EncoderChange(project_name, name, previous, job_id)
