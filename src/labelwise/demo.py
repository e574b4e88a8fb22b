"""The end-to-end demo on a Banking77 sample shipped in the package (no key, no network)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select

from labelwise.domain import NotFound, ProjectKind
from labelwise.ingest.importer import ImportReport, Progress, run_import
from labelwise.ingest.records import Options
from labelwise.store import Store
from labelwise.store.classes import add_class
from labelwise.store.labels import accept_above, reviewable_suggestions
from labelwise.store.models import Document
from labelwise.store.projects import (
    ProjectSummary,
    create_project,
    delete_project,
    get_project,
    summarize,
)
from labelwise.store.trained import deploy
from labelwise.training.predict import predict
from labelwise.training.train import TrainOptions, TrainResult, train_model

Step = Callable[[str], Progress]

DEMO_PROJECT = "demo-banking77"
CLASS_DESCRIPTIONS = {
    "card_arrival": "The customer is waiting for a new card to arrive or asks where it is.",
    "lost_or_stolen_card": "The customer's card was lost or stolen and must be blocked.",
    "exchange_rate": "Questions about the exchange rate used when converting currencies.",
    "pin_blocked": "The card's PIN is blocked after wrong attempts and needs unblocking.",
    "cash_withdrawal_charge": "A fee was charged for taking cash out at an ATM.",
    "transfer_not_received_by_recipient": "A sent transfer has not reached the recipient.",
    "age_limit": "How old one must be to open or use an account.",
    "cancel_transfer": "The customer wants to stop or reverse a transfer they made.",
    "apple_pay_or_google_pay": "Using the card with Apple Pay or Google Pay.",
    "terminate_account": "The customer wants to close or delete their account.",
}


ACCEPT_ABOVE = 0.9
TRY_TEXTS = (
    "I lost my card on the train yesterday, please block it",
    "How old do you have to be to open an account?",
)


@dataclass
class DemoResult:
    project: str
    imported: ImportReport
    summary: ProjectSummary
    job: dict[str, Any]  # the autolabel job, as `labelwise job show` prints it
    suggestion_accuracy: float  # against the sample's gold column
    accepted: int
    trained: TrainResult
    predictions: list[dict[str, Any]]


def sample_path() -> Path:
    return Path(str(resources.files("labelwise") / "data" / "banking77_sample.csv"))


def create_demo_project(
    store: Store, project: str = DEMO_PROJECT, on_progress: Progress | None = None
) -> ImportReport:
    """(Re)create the demo project with its classes and import the shipped sample."""
    with store.session() as session:
        try:
            get_project(session, project)
            delete_project(session, project)
        except NotFound:
            pass
        p = create_project(
            session,
            project,
            ProjectKind.SINGLE_LABEL,
            "en",
            "Customer-service messages of an online bank (Banking77 sample).",
        )
        for name, description in CLASS_DESCRIPTIONS.items():
            add_class(session, p, name, description)
    return run_import(
        store,
        project,
        str(sample_path()),
        fmt="csv",
        options=Options(label_column="labels"),
        on_progress=on_progress,
    )


def run_demo(store: Store, project: str = DEMO_PROJECT, on_step: Step | None = None) -> DemoResult:
    """The whole loop on the shipped sample: import, autolabel with the embedded labeler,
    accept the confident suggestions, train, evaluate, deploy and predict."""
    step = on_step or (lambda name: lambda done, total: None)
    report = create_demo_project(store, project, step("importing the sample"))
    from labelwise.jobs import runner

    job_id = runner.create(store, project, "embedding")
    bar = step("autolabel job")
    runner.run(store, job_id, lambda p: bar(p.done + p.failed, p.total))
    job = runner.show(store, job_id)
    accuracy = _suggestion_accuracy(store, project)
    with store.session() as session:
        accepted = accept_above(session, get_project(session, project), ACCEPT_ABOVE)
    result = train_model(
        store, project, "demo-model", TrainOptions(manual_split=True), on_progress=step("training")
    )
    with store.session() as session:
        deploy(session, get_project(session, project), "demo-model", "production")
        summary = summarize(session, get_project(session, project))
    predictions = predict(store, project, list(TRY_TEXTS), deployment="production")
    return DemoResult(project, report, summary, job, accuracy, accepted, result, predictions)


def _suggestion_accuracy(store: Store, project: str) -> float:
    """How many of the demo's suggestions match the sample's gold column."""
    with sample_path().open(encoding="utf-8", newline="") as fh:
        gold = {row["name"]: row["gold"] for row in csv.DictReader(fh)}
    with store.session() as session:
        p = get_project(session, project)
        names = {c.id: c.name for c in p.classes}
        docs = dict(
            session.execute(
                select(Document.id, Document.name).where(Document.project_id == p.id)
            ).all()
        )
        pairs = [
            (docs[s.document_id], names[s.class_id]) for s in reviewable_suggestions(session, p)
        ]
    return sum(gold.get(d) == c for d, c in pairs) / len(pairs) if pairs else 0.0
