"""The end-to-end demo on a Banking77 sample shipped in the package (no key, no network)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from labelwise.domain import NotFound, ProjectKind
from labelwise.ingest.importer import ImportReport, Progress, run_import
from labelwise.ingest.records import Options
from labelwise.store import Store
from labelwise.store.classes import add_class
from labelwise.store.projects import (
    ProjectSummary,
    create_project,
    delete_project,
    get_project,
    summarize,
)

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


@dataclass
class DemoResult:
    project: str
    imported: ImportReport
    summary: ProjectSummary


def sample_path() -> Path:
    return Path(str(resources.files("labelwise") / "data" / "banking77_sample.csv"))


def run_demo(
    store: Store, project: str = DEMO_PROJECT, on_progress: Progress | None = None
) -> DemoResult:
    """(Re)create the demo project, add its classes and import the shipped sample."""
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
    report = run_import(
        store,
        project,
        str(sample_path()),
        fmt="csv",
        options=Options(label_column="labels"),
        on_progress=on_progress,
    )
    with store.session() as session:
        summary = summarize(session, get_project(session, project))
    return DemoResult(project=project, imported=report, summary=summary)
