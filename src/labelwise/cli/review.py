"""`labelwise suggestions / accept / reject`: review a labeler's suggestions from the shell."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.cli.common import (
    ClassFilterOpt,
    DatasetFilterOpt,
    JobFilterOpt,
    JsonOpt,
    LabelerFilterOpt,
    MaxConfidenceOpt,
    MinConfidenceOpt,
    SearchOpt,
    YesOpt,
    confirm,
    document_query,
    emit_json,
    get_store,
    out,
)
from labelwise.domain import Dataset, LabelwiseError, NotFound
from labelwise.schemas import CalibrationPublic, ReviewItemPublic
from labelwise.store import labels as svc
from labelwise.store import trust
from labelwise.store.classes import get_class
from labelwise.store.models import Document, Project
from labelwise.store.projects import get_project
from labelwise.store.views import review_items


def suggestions(
    project: str,
    class_name: str | None = ClassFilterOpt,
    dataset: Dataset | None = DatasetFilterOpt,
    search: str | None = SearchOpt,
    min_confidence: float | None = MinConfidenceOpt,
    max_confidence: float | None = MaxConfidenceOpt,
    labeler: str | None = LabelerFilterOpt,
    job: int | None = JobFilterOpt,
    sort: str = typer.Option(
        "confidence_desc",
        help="confidence_desc, confidence_asc, document, informative (disagreements, then "
        "the least certain, first), or sample (a uniform random sample: reviewed, it vouches "
        "for accept-above --precision).",
    ),
    limit: int = typer.Option(50, min=1, help="At most this many."),
    as_json: bool = JsonOpt,
) -> None:
    """List the suggestions offered for review (pending, not shadowed by a user label), the
    most confident first."""
    if sort not in ("confidence_desc", "confidence_asc", "document", "informative", "sample"):
        raise LabelwiseError(
            f"--sort {sort!r}: use confidence_desc, confidence_asc, document, informative or sample"
        )
    query = document_query(
        dataset=dataset,
        q=search,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        labeler=labeler,
        job=job,
        **{"class": class_name},
    )
    with get_store().session() as session:
        p = get_project(session, project)
        data = review_items(session, p, query, sort, limit=limit)  # type: ignore[arg-type]
        fits = trust.calibrations(session, p)
    if as_json:
        emit_json(data, list[ReviewItemPublic])
        return
    several = any(len(r["agreed_by"]) > 1 for r in data)  # who agrees, when anyone does
    table = Table("id", "document", "excerpt", "class", "conf.", "est. right", "labeler")
    if several:
        table.add_column("agreed by")
    for r in data:
        est = r["estimated_precision"]
        cells = [
            str(r["id"]),
            str(r["document"]),
            " ".join(str(r["excerpt"])[:120].split())[:60],
            str(r["class"]),
            f"{r['confidence']:.2f}",
            "?" if est is None else f"{est:.0%}",
            str(r["labeler"]),
        ]
        if several:
            both = r["combined_precision"]
            who = ", ".join(r["agreed_by"])
            cells.append(who if both is None else f"{who} ({both:.0%} together)")
        table.add_row(*cells)
    out.print(table if data else "no suggestions to review")
    for name in sorted({str(r["labeler"]) for r in data}):
        fit = fits.get(name)
        if fit is None or not fit.fitted:
            why = fit.reason if fit is not None else "no reviewed decisions yet"
            out.print(f"est. right is ? for {name}: {why}; review some of its suggestions")


def calibration(project: str, as_json: bool = JsonOpt) -> None:
    """How far each labeler's confidence can be trusted: its confidences fitted to the reviewed
    decisions (isotonic, cross-fitted), the estimated precision at a few confidences, and the
    calibration's own error."""
    with get_store().session() as session:
        rows = trust.calibration_report(session, get_project(session, project))
    if as_json:
        emit_json(rows, list[CalibrationPublic])
        return
    points = ("0.5", "0.7", "0.8", "0.9", "0.95")
    table = Table("labeler", "reviewed", "right", "error", *(f"at {p}" for p in points))
    for r in rows:
        at = r["precision_at"]
        table.add_row(
            str(r["labeler"]),
            str(r["reviewed"]),
            str(r["right"]),
            "" if r["error"] is None else f"{r['error']:.3f}",
            *("?" if at[p] is None else f"{at[p]:.0%}" for p in points),
        )
    out.print(table if rows else f"{project!r} has no reviewed decisions yet")
    for r in rows:
        if not r["fitted"]:
            out.print(f"{r['labeler']}: {r['reason']}")


TargetArg = typer.Argument(
    ...,
    metavar="DOC [CLASS] | SUGGESTION_ID...",
    help="A document's name, and the class of its suggestion to decide on (default: the most "
    "confident one); or suggestion ids (scripts).",
)


def resolve_targets(session: Session, project: Project, targets: list[str]) -> list[int]:
    """Suggestion ids from ``DOC [CLASS]`` or from ids. A document name wins over an id."""
    doc = session.scalar(
        select(Document).where(Document.project_id == project.id, Document.name == targets[0])
    )
    if doc is None and all(t.isdigit() for t in targets):
        return [int(t) for t in targets]  # the store says when one names nothing
    if doc is None:
        raise NotFound(
            f"project {project.name!r} has no document named {targets[0]!r}; see "
            f"`labelwise suggestions {project.name}` for what there is to review"
        )
    if len(targets) > 2:
        raise LabelwiseError("give one document and at most one class: DOC [CLASS]")
    offered = svc.reviewable_suggestions(session, project, doc)
    if len(targets) == 2:
        cls = get_class(session, project, targets[1])
        offered = [s for s in offered if s.class_id == cls.id]
    if not offered:
        of = f" of class {targets[1]!r}" if len(targets) == 2 else ""
        raise NotFound(f"document {doc.name!r} has no suggestion{of} to review")
    return [offered[0].id]  # the most confident one


def accept(project: str, targets: list[str] = TargetArg) -> None:
    """Accept suggestions: each becomes a user label."""
    with get_store().session() as session:
        p = get_project(session, project)
        ids = resolve_targets(session, p, targets)
        for i in ids:
            svc.accept(session, p, i)
    out.print(f"accepted {len(ids)}")


def reject(project: str, targets: list[str] = TargetArg) -> None:
    """Reject suggestions (the decision is kept for the labeler's accept rate)."""
    with get_store().session() as session:
        p = get_project(session, project)
        ids = resolve_targets(session, p, targets)
        for i in ids:
            svc.reject(session, p, i)
    out.print(f"rejected {len(ids)}")


def accept_above(
    project: str,
    threshold: float | None = typer.Argument(
        None, min=0.0, max=1.0, help="Confidence, 0 to 1 (or give --precision)."
    ),
    class_name: str | None = typer.Option(None, "--class", help="Only this class."),
    precision: float | None = typer.Option(
        None,
        min=0.5,
        max=0.999,
        help="Accept at this target precision instead: the lowest threshold whose reviewed "
        "decisions reach it at their 90 % lower bound; nothing when they cannot.",
    ),
    labeler: str | None = typer.Option(
        None, help="With --precision: whose suggestions (default: the only labeler)."
    ),
    yes: bool = YesOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Accept every suggestion offered for review at or above a confidence, or at a target
    precision estimated from the reviewed decisions."""
    if (threshold is None) == (precision is None):
        raise LabelwiseError("give a confidence threshold or --precision, not both")
    with get_store().session() as session:
        p = get_project(session, project)
        if precision is not None:
            preview = trust.accept_at_precision(session, p, precision, labeler, dry_run=True)
            if preview.accepted:
                confirm(
                    f"accept {preview.accepted} suggestions of {preview.labeler!r} at "
                    f"confidence >= {preview.threshold:.3f}?",
                    yes,
                )
            result = trust.accept_at_precision(session, p, precision, labeler)
            data: dict[str, object] = result.to_dict()
            text = result.message
        else:
            assert threshold is not None
            would = svc.accept_above(session, p, threshold, class_name, dry_run=True)
            if would:
                confirm(f"accept {would} suggestions at confidence >= {threshold}?", yes)
            n = svc.accept_above(session, p, threshold, class_name)
            data = {"accepted": n, "threshold": threshold}
            text = f"accepted {n} suggestion{'s' if n != 1 else ''} at confidence >= {threshold}"
    if as_json:
        emit_json(data)
    else:
        out.print(text)


def audit(
    project: str,
    sample_n: int | None = typer.Option(
        None,
        "--sample",
        min=1,
        help="Draw N documents labeled by accepted suggestions, uniformly at random, to label "
        "again blind.",
    ),
    label: str | None = typer.Option(
        None, "--label", metavar="DOC", help="Record a sampled document's blind label (--class)."
    ),
    classes: list[str] | None = typer.Option(
        None, "--class", help="The class the document belongs to (repeat for multi-label)."
    ),
    show_report: bool = typer.Option(
        False, "--report", help="The share of correct labels with a 95 % interval, per class too."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check the labels that came from accepted suggestions: draw a random sample, label it
    blind (the suggestion is not shown), and see how many were right. With no option, list the
    sampled documents still waiting."""
    from labelwise.store import audit as audits

    with get_store().session() as session:
        p = get_project(session, project)
        if label is not None:
            agrees = audits.record(session, p, label, classes or [])
            data: Any = {"document": label, "labels": classes, "agrees": agrees}
        elif show_report:
            data = audits.report(session, p).to_dict()
        else:
            docs = audits.sample(session, p, sample_n) if sample_n else audits.waiting(session, p)
            data = [{"name": d.name, "text": d.text} for d in docs]
    if as_json:
        emit_json(data)
        return
    if label is not None:
        out.print(f"recorded {label!r}: {', '.join(classes or [])}")
    elif show_report:
        out.print(data["message"])
        table = Table("class", "audited", "right", "95 % interval")
        for name, c in data["per_class"].items():
            table.add_row(
                name,
                str(c["audited"]),
                "too few" if c["accuracy"] is None else f"{c['accuracy']:.0%}",
                ""
                if c["interval"] is None
                else f"{c['interval'][0]:.0%} to {c['interval'][1]:.0%}",
            )
        if data["per_class"]:
            out.print(table)
    elif not data:
        out.print(
            "nothing to audit: no sampled document waits"
            + ("" if sample_n else f"; draw some: labelwise audit {project} --sample 20")
        )
    else:
        for d in data:
            out.print(f"== {d['name']}")
            out.print(d["text"])
        out.print(
            f"label each without looking at its suggestion: labelwise audit {project} --label "
            "DOC --class CLASS"
        )
