"""`labelwise suggestions / accept / reject`: review a labeler's suggestions from the shell."""

from __future__ import annotations

import typer
from rich.table import Table

from labelwise.cli.common import JsonOpt, emit_json, get_store, out
from labelwise.store import labels as svc
from labelwise.store.models import Document
from labelwise.store.projects import get_project


def suggestions(
    project: str,
    limit: int = typer.Option(50, min=1),
    as_json: bool = JsonOpt,
) -> None:
    """List the suggestions offered for review (pending, not shadowed by a user label)."""
    with get_store().session() as session:
        p = get_project(session, project)
        rows = svc.reviewable_suggestions(session, p)[:limit]
        names = {c.id: c.name for c in p.classes}
        docs = {
            d.id: d.name
            for d in session.query(Document).filter(Document.id.in_({s.document_id for s in rows}))
        }
        data = [
            {
                "id": s.id,
                "document": docs[s.document_id],
                "class": names[s.class_id],
                "confidence": s.confidence,
                "labeler": s.labeler,
                "model": s.model,
                "job_id": s.job_id,
                "rationale": s.rationale,
            }
            for s in rows
        ]
    if as_json:
        emit_json(data)
        return
    table = Table("id", "document", "class", "confidence", "labeler")
    for r in data:
        table.add_row(
            str(r["id"]),
            str(r["document"]),
            str(r["class"]),
            f"{r['confidence']:.2f}",
            str(r["labeler"]),
        )
    out.print(table if data else "no suggestions to review")


def accept(project: str, ids: list[int] = typer.Argument(..., metavar="SUGGESTION_ID...")) -> None:
    """Accept suggestions: each becomes a user label."""
    with get_store().session() as session:
        p = get_project(session, project)
        for i in ids:
            svc.accept(session, p, i)
    out.print(f"accepted {len(ids)}")


def reject(project: str, ids: list[int] = typer.Argument(..., metavar="SUGGESTION_ID...")) -> None:
    """Reject suggestions (the decision is kept for the labeler's accept rate)."""
    with get_store().session() as session:
        p = get_project(session, project)
        for i in ids:
            svc.reject(session, p, i)
    out.print(f"rejected {len(ids)}")


def accept_above(
    project: str,
    threshold: float = typer.Argument(..., min=0.0, max=1.0, help="Confidence, 0 to 1."),
    class_name: str | None = typer.Option(None, "--class", help="Only this class."),
) -> None:
    """Accept every suggestion offered for review at or above a confidence."""
    with get_store().session() as session:
        n = svc.accept_above(session, get_project(session, project), threshold, class_name)
    out.print(f"accepted {n} suggestion{'s' if n != 1 else ''} at confidence >= {threshold}")
