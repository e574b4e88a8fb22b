"""Training (202, poll the model), evaluation, the confusion matrix picture, deployments."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from labelwise.domain import LabelwiseError, ModelStatus
from labelwise.schemas import (
    DeploymentPublic,
    EvaluationPublic,
    ModelPublic,
    TrainingStartedPublic,
)
from labelwise.store import trained as svc
from labelwise.store.projects import get_project
from labelwise.training.train import TrainOptions, begin_training
from labelwise.web.deps import StoreDep

router = APIRouter(prefix="/api/projects/{project}", tags=["training"])


class TrainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=100)
    algorithm: Literal["embedding-logreg", "tfidf-logreg"] = "embedding-logreg"
    split: int = Field(80, ge=1, le=99, description="Automatic split: percent for training.")
    manual_split: bool = Field(False, description="Use the documents' train/test assignment.")


class DeploymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str


@router.post("/models", status_code=202, response_model=TrainingStartedPublic)
def train(
    project: str, body: TrainCreate, request: Request, response: Response, store: StoreDep
) -> dict[str, Any]:
    """Start a training: the data and split are checked and unaccepted suggestions deleted at
    once (errors answer here), the fit runs in the background; poll the model's location until
    its status is ``ready`` or ``failed``."""
    training = begin_training(
        store,
        project,
        body.model,
        TrainOptions(algorithm=body.algorithm, split=body.split, manual_split=body.manual_split),
    )
    request.app.state.background.train(training)
    response.headers["Location"] = f"/api/projects/{project}/models/{body.model}"
    return {
        "model": body.model,
        "status": ModelStatus.TRAINING,
        "train_documents": len(training.train_docs),
        "test_documents": len(training.test_docs),
        "discarded_suggestions": training.discarded,
        "warnings": training.warnings,
    }


@router.get("/models", response_model=list[ModelPublic])
def models(project: str, store: StoreDep) -> list[dict[str, Any]]:
    with store.session() as session:
        return [svc.public(m) for m in svc.list_models(session, get_project(session, project))]


@router.get("/models/{model}", response_model=ModelPublic)
def model(project: str, model: str, store: StoreDep) -> dict[str, Any]:
    """A model: status (training, ready, failed), configuration and metrics."""
    with store.session() as session:
        return svc.public(svc.get_model(session, get_project(session, project), model))


@router.delete("/models/{model}", status_code=204)
def delete_model(project: str, model: str, store: StoreDep) -> None:
    with store.session() as session:
        svc.delete_model(session, get_project(session, project), model)


def _evaluation(store: Any, project: str, model: str) -> dict[str, Any]:
    with store.session() as session:
        row = svc.get_model(session, get_project(session, project), model)
        if row.status != ModelStatus.READY:
            raise LabelwiseError(f"model {model!r} is {row.status}; no evaluation yet")
        return dict(row.evaluation)


@router.get("/models/{model}/evaluation", response_model=EvaluationPublic)
def evaluation(project: str, model: str, store: StoreDep) -> dict[str, Any]:
    """Per-class precision, recall, F1 and counts, micro/macro averages, the confusion matrix
    (single-label), mismatches and guidance."""
    return _evaluation(store, project, model)


@router.get("/models/{model}/confusion.png", response_class=Response)
def confusion(project: str, model: str, store: StoreDep) -> Response:
    """The confusion matrix as a PNG (the picture `labelwise evaluate --plot` writes)."""
    from labelwise.training.plot import confusion_png

    ev = _evaluation(store, project, model)
    with tempfile.TemporaryDirectory() as tmp:
        path = confusion_png(ev, Path(tmp) / "confusion.png", title=f"{project} / {model}")
        return Response(path.read_bytes(), media_type="image/png")


@router.get("/deployments", response_model=list[DeploymentPublic])
def deployments(project: str, store: StoreDep) -> list[dict[str, Any]]:
    with store.session() as session:
        return svc.public_deployments(session, get_project(session, project))


@router.put("/deployments/{name}", response_model=DeploymentPublic)
def deploy(project: str, name: str, body: DeploymentCreate, store: StoreDep) -> dict[str, Any]:
    """Deploy a ready model under a name; deploying another model there swaps it."""
    with store.session() as session:
        d = svc.deploy(session, get_project(session, project), body.model, name)
        return {"name": d.name, "model": body.model, "deployed_at": d.deployed_at}


@router.delete("/deployments/{name}", status_code=204)
def undeploy(project: str, name: str, store: StoreDep) -> None:
    with store.session() as session:
        svc.delete_deployment(session, get_project(session, project), name)
