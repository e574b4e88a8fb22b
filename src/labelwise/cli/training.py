"""`labelwise train / evaluate / models / model / deploy / deployments / predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from labelwise.cli.common import (
    App,
    JsonOpt,
    YesOpt,
    confirm,
    emit_json,
    err,
    get_store,
    out,
    progress_bar,
)
from labelwise.domain import LabelwiseError, ModelStatus
from labelwise.ingest.records import loads_bounded
from labelwise.schemas import DeploymentPublic, ModelPublic
from labelwise.store import trained as svc
from labelwise.store.projects import get_project

model_app = App(help="Trained models: show, delete.")


def train(
    project: str,
    model: str = typer.Option(..., "--model", help="A new model name (models never change)."),
    split: int = typer.Option(80, help="Automatic split: percent of the train set to train on."),
    manual_split: bool = typer.Option(False, help="Use the documents' train/test assignment."),
    algorithm: str = typer.Option(
        "embedding-logreg", help="embedding-logreg (default) or tfidf-logreg."
    ),
    yes: bool = YesOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Train a model on the user labels (deletes suggestions that were not accepted; asks
    first when some were never reviewed)."""
    from labelwise.store.labels import unaccepted
    from labelwise.training.train import TrainOptions, check_options, train_model

    options = check_options(
        TrainOptions(algorithm=algorithm, split=split, manual_split=manual_split)
    )
    with get_store().session() as session:
        left = unaccepted(session, get_project(session, project))
    if left["pending"]:
        confirm(
            f"training deletes {left['pending']} suggestions nobody reviewed (they cost "
            f"${left['cost_usd']:.4f}) and {left['rejected']} rejected ones; review or accept "
            "them first to keep them. Train now?",
            yes,
        )

    with progress_bar(f"training {model}", quiet=as_json) as on_progress:
        result = train_model(get_store(), project, model, options, on_progress)
    if as_json:
        emit_json({k: v for k, v in result.__dict__.items()})
        return
    for w in result.warnings:
        err.print(f"warning: {w}")
    ev = result.evaluation
    out.print(
        f"trained {result.model!r} ({result.algorithm}) on {result.train_documents} "
        f"documents in {result.seconds:.1f} s; tested on {result.test_documents}; "
        f"{result.discarded_suggestions} unaccepted suggestions deleted"
    )
    out.print(
        f"micro F1 {ev['micro']['f1']:.3f}, macro F1 {ev['macro']['f1']:.3f}"
        + (f", accuracy {ev['accuracy']:.3f}" if "accuracy" in ev else "")
    )


def print_evaluation(ev: dict[str, Any]) -> None:
    table = Table("class", "precision", "recall", "F1", "TP", "FP", "FN", "support")
    for cls, m in ev["per_class"].items():
        table.add_row(
            cls,
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            str(m["tp"]),
            str(m["fp"]),
            str(m["fn"]),
            str(m["support"]),
        )
    for avg in ("micro", "macro"):
        m = ev[avg]
        table.add_row(
            f"({avg})",
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            "",
            "",
            "",
            "",
        )
    out.print(table)
    if "accuracy" in ev:
        out.print(f"accuracy {ev['accuracy']:.3f} on {ev['documents']} test documents")
    out.print(f"mismatches: {len(ev['mismatches'])}")
    for m in ev["mismatches"][:10]:
        out.print(
            f"  {m['document']}: labeled {', '.join(m['labels'])}, predicted "
            f"{', '.join(m['predicted']) or '(nothing)'}"
        )
    for line in ev["guidance"]:
        out.print(f"guidance: {line}")


def evaluate(
    project: str,
    model: str = typer.Argument(..., help="The trained model."),
    plot: Path | None = typer.Option(None, help="Write the confusion matrix as a PNG here."),
    as_json: bool = JsonOpt,
) -> None:
    """Show a model's evaluation on its test documents."""
    with get_store().session() as session:
        row = svc.get_model(session, get_project(session, project), model)
        ev, status = dict(row.evaluation), row.status
    if status != ModelStatus.READY:
        raise typer.BadParameter(f"model {model!r} is {status}")
    if plot is not None:
        from labelwise.training.plot import confusion_png

        confusion_png(ev, plot, title=f"{project} / {model}")
    if as_json:
        emit_json(ev)
        return
    print_evaluation(ev)
    if plot is not None:
        out.print(f"confusion matrix written to {plot}")


def models(project: str, as_json: bool = JsonOpt) -> None:
    """List a project's trained models."""
    with get_store().session() as session:
        rows = [svc.public(m) for m in svc.list_models(session, get_project(session, project))]
    if as_json:
        emit_json(rows, list[ModelPublic])
        return
    table = Table("model", "algorithm", "status", "train", "test", "micro F1", "trained")
    for r in rows:
        c = r["config"]
        table.add_row(
            r["name"],
            r["algorithm"],
            r["status"],
            str(c.get("train_documents", "")),
            str(c.get("test_documents", "")),
            f"{c['micro_f1']:.3f}" if "micro_f1" in c else "",
            str(r["finished_at"]),
        )
    out.print(table if rows else f"{project!r} has no models: labelwise train {project} --model M")


@model_app.command("show")
def model_show(project: str, model: str, as_json: bool = JsonOpt) -> None:
    """Show a model's configuration (labels, algorithm, training data hash, metrics)."""
    with get_store().session() as session:
        data = svc.public(svc.get_model(session, get_project(session, project), model))
    if as_json:
        emit_json(data, ModelPublic)
        return
    out.print(json.dumps(data, indent=2, default=str))


@model_app.command("delete")
def model_delete(project: str, model: str, yes: bool = YesOpt) -> None:
    """Delete a trained model (refused while it is deployed)."""
    confirm(f"delete model {model!r}?", yes)
    with get_store().session() as session:
        svc.delete_model(session, get_project(session, project), model)
    out.print(f"deleted model {model!r}")


def deploy(
    project: str,
    model: str = typer.Argument(..., help="The trained model to serve."),
    name: str = typer.Option("production", "--name", help="The deployment's name."),
) -> None:
    """Deploy a model under a name (deploying another model there swaps it)."""
    with get_store().session() as session:
        svc.deploy(session, get_project(session, project), model, name)
    out.print(f"deployment {name!r} now serves model {model!r}")


def deployments(project: str, as_json: bool = JsonOpt) -> None:
    """List a project's deployments."""
    with get_store().session() as session:
        rows = svc.public_deployments(session, get_project(session, project))
    if as_json:
        emit_json(rows, list[DeploymentPublic])
        return
    for r in rows:
        out.print(f"{r['name']}: {r['model']} (since {r['deployed_at']})")
    if not rows:
        out.print("no deployments")


def read_texts(file: Path) -> list[str]:
    """The ``text`` of every line of a JSONL file; a bad line is an error naming file:line."""
    if file.is_dir():
        raise LabelwiseError(f"{file} is a folder; give a JSONL file with a 'text' per line")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise LabelwiseError(f"{file}: not valid UTF-8 (byte {exc.start})") from None
    texts = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = loads_bounded(line)
        except ValueError as exc:
            raise LabelwiseError(
                f"{file}:{n}: not JSON ({exc}); give one object per line"
            ) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise LabelwiseError(f'{file}:{n}: expected an object like {{"text": "..."}}')
        texts.append(obj["text"])
    return texts


def predict(
    project: str,
    texts: list[str] | None = typer.Argument(None, help="Texts to classify."),
    deployment: str = typer.Option("production", help="The deployment to ask."),
    file: Path | None = typer.Option(None, help="A JSONL file with a 'text' field per line."),
    as_json: bool = JsonOpt,
) -> None:
    """Classify texts with a deployed model, printing each class with its confidence."""
    from labelwise.training.predict import predict as run

    items = list(texts or [])
    if file is not None:
        items.extend(read_texts(file))
    if not items:
        raise typer.BadParameter("give texts to classify, or --file")
    results = run(get_store(), project, items, deployment=deployment)
    if as_json:
        emit_json(results)
        return
    for text, r in zip(items, results, strict=True):
        chosen = r["class"]
        label = ", ".join(f"{c['category']} ({c['confidenceScore']:.2f})" for c in chosen)
        out.print(f"{label or '(no class)'}  <- {text[:80]}")
