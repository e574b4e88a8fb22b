"""Trained models and deployments of a project."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.domain import Conflict, LabelwiseError, ModelStatus, NotFound
from labelwise.processes import alive_here, here
from labelwise.store.models import Deployment, Project, TrainedModel, as_utc, utcnow

STALE_AFTER = timedelta(hours=6)


def start_training(session: Session, project: Project, name: str, algorithm: str) -> TrainedModel:
    """Record a model in status ``training``; the database allows one per project at a time."""
    if not name.strip() or len(name) > 100:
        raise LabelwiseError("a model name has 1 to 100 characters")
    same = session.scalar(
        select(TrainedModel).where(TrainedModel.project_id == project.id, TrainedModel.name == name)
    )
    if same is not None and _reap(same).status == ModelStatus.FAILED:
        session.delete(same)  # a failed training left nothing to keep: its name is free again
        session.flush()
    elif same is not None:
        raise Conflict(
            f"project {project.name!r} already has a model {name!r}; trained models "
            "never change: pick a new name"
        )
    running = session.scalar(
        select(TrainedModel).where(
            TrainedModel.project_id == project.id, TrainedModel.status == ModelStatus.TRAINING
        )
    )
    if running is not None:
        if _reap(running).status == ModelStatus.TRAINING:
            raise training_running(project.name)
        session.flush()
    host, pid = here()
    row = TrainedModel(
        project_id=project.id,
        name=name,
        algorithm=algorithm,
        status=ModelStatus.TRAINING,
        config={"host": host, "pid": pid},
    )
    session.add(row)
    session.flush()  # a concurrent start fails here on the unique index (IntegrityError)
    return row


def _is_dead(row: TrainedModel) -> bool:
    """A training whose process is gone (same host, pid not alive) or that is older than
    :data:`STALE_AFTER` is taken to have died (killed, power loss) and may be replaced."""
    config = row.config or {}
    alive = alive_here(config.get("host"), config.get("pid"))
    if alive is not None:
        return not alive
    return utcnow() - as_utc(row.created_at) > STALE_AFTER


def _reap(row: TrainedModel) -> TrainedModel:
    """Mark ``row`` failed when it reads ``training`` but its process died (killed, power
    loss), so that nothing shows a training that will never end."""
    if row.status == ModelStatus.TRAINING and _is_dead(row):
        row.status, row.finished_at = ModelStatus.FAILED, utcnow()
        row.error = "the training process died before it finished (killed, or out of memory)"
    return row


def training_running(project: str) -> Conflict:
    return Conflict(f"a training of project {project!r} is already running; wait for it to finish")


def finish_training(
    session: Session,
    model_id: int,
    arrays: bytes,
    config: dict[str, Any],
    evaluation: dict[str, Any],
) -> None:
    row = session.get(TrainedModel, model_id)
    assert row is not None and row.status == ModelStatus.TRAINING
    row.arrays, row.config, row.evaluation = arrays, config, evaluation
    row.status, row.finished_at = ModelStatus.READY, utcnow()


def fail_training(session: Session, model_id: int, error: str) -> None:
    row = session.get(TrainedModel, model_id)
    if row is not None and row.status == ModelStatus.TRAINING:
        row.status, row.error, row.finished_at = ModelStatus.FAILED, error[:2000], utcnow()


def get_model(session: Session, project: Project, name: str) -> TrainedModel:
    row = session.scalar(
        select(TrainedModel).where(TrainedModel.project_id == project.id, TrainedModel.name == name)
    )
    if row is None:
        known = [m.name for m in list_models(session, project)]
        hint = f"; its models are: {', '.join(known)}" if known else "; train one first"
        raise NotFound(f"project {project.name!r} has no model {name!r}{hint}")
    return _reap(row)


def ready_model(session: Session, project: Project, name: str) -> TrainedModel:
    row = get_model(session, project, name)
    if row.status != ModelStatus.READY or row.arrays is None:
        raise LabelwiseError(
            f"model {name!r} is {row.status}"
            + (f": {row.error}" if row.error else "")
            + "; it cannot be used"
        )
    return row


def public(m: TrainedModel) -> dict[str, Any]:
    """A model as the CLI and API show it (without its vocabulary)."""
    return {
        "name": m.name,
        "algorithm": m.algorithm,
        "status": m.status,
        "error": m.error,
        "created_at": m.created_at,
        "finished_at": m.finished_at,
        "config": {k: v for k, v in (m.config or {}).items() if k != "vocabulary"},
    }


def list_models(session: Session, project: Project) -> list[TrainedModel]:
    rows = session.scalars(
        select(TrainedModel).where(TrainedModel.project_id == project.id).order_by(TrainedModel.id)
    )
    return [_reap(row) for row in rows]


def delete_model(session: Session, project: Project, name: str) -> None:
    row = get_model(session, project, name)
    used = session.scalars(select(Deployment.name).where(Deployment.model_id == row.id)).all()
    if used:
        raise Conflict(
            f"model {name!r} is deployed as {', '.join(used)}; deploy another model "
            "there (or delete the deployment) first"
        )
    session.delete(row)
    session.flush()


def deploy(session: Session, project: Project, model_name: str, name: str) -> Deployment:
    """Point deployment ``name`` at a ready model (swapping the one it had)."""
    model = ready_model(session, project, model_name)
    row = session.scalar(
        select(Deployment).where(Deployment.project_id == project.id, Deployment.name == name)
    )
    if row is None:
        row = Deployment(project_id=project.id, name=name, model_id=model.id)
        session.add(row)
    else:
        row.model_id, row.deployed_at = model.id, utcnow()
    session.flush()
    return row


def get_deployment(session: Session, project: Project, name: str) -> Deployment:
    row = session.scalar(
        select(Deployment).where(Deployment.project_id == project.id, Deployment.name == name)
    )
    if row is None:
        raise NotFound(
            f"project {project.name!r} has no deployment {name!r}; deploy a model under "
            "that name first"
        )
    return row


def list_deployments(session: Session, project: Project) -> list[tuple[Deployment, str]]:
    rows = session.execute(
        select(Deployment, TrainedModel.name)
        .join(TrainedModel, TrainedModel.id == Deployment.model_id)
        .where(Deployment.project_id == project.id)
        .order_by(Deployment.name)
    )
    return [(d, n) for d, n in rows]


def public_deployments(session: Session, project: Project) -> list[dict[str, Any]]:
    """A project's deployments as the CLI and API show them."""
    return [
        {"name": d.name, "model": m, "deployed_at": d.deployed_at}
        for d, m in list_deployments(session, project)
    ]


def delete_deployment(session: Session, project: Project, name: str) -> None:
    session.delete(get_deployment(session, project, name))
    session.flush()
