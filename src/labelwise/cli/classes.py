"""`labelwise class ...`: the classes of a project."""

from __future__ import annotations

import typer
from rich.table import Table

from labelwise.cli.common import App, JsonOpt, YesOpt, confirm, emit_json, get_store, out
from labelwise.schemas import ClassPublic
from labelwise.store import classes as svc
from labelwise.store.projects import get_project
from labelwise.store.views import class_view

class_app = App(help="Add, list, rename, describe and remove classes.")

ExampleOpt = typer.Option(
    None, "--example", "-e", help="An example text of the class (repeat for more)."
)


@class_app.command("add")
def add(
    project: str,
    names: list[str] = typer.Argument(..., help="One or more class names."),
    description: str = typer.Option("", help="What documents of this class are about."),
    example: list[str] | None = ExampleOpt,
) -> None:
    """Add classes (at most 50 characters, none of : $ & % * ( ) + ~ # / ?)."""
    with get_store().session() as session:
        p = get_project(session, project)
        for name in names:
            svc.add_class(session, p, name, description, example or ())
    out.print(f"added {len(names)} class{'es' if len(names) != 1 else ''} to {project!r}")


@class_app.command("list")
def list_(project: str, as_json: bool = JsonOpt) -> None:
    """List the classes with their descriptions and examples."""
    with get_store().session() as session:
        rows = [
            class_view(session, c) for c in svc.list_classes(session, get_project(session, project))
        ]
    if as_json:
        emit_json(rows, list[ClassPublic])
        return
    table = Table("class", "description", "examples", "labels", "suggestions")
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["description"]),
            str(len(r["examples"])),
            str(r["labels"]),
            str(r["suggestions"]),
        )
    out.print(table if rows else f"{project!r} has no classes yet")


@class_app.command("rename")
def rename(project: str, old: str, new: str) -> None:
    """Rename a class; its labels and suggestions follow."""
    with get_store().session() as session:
        svc.rename_class(session, get_project(session, project), old, new)
    out.print(f"renamed {old!r} to {new!r}")


@class_app.command("describe")
def describe(
    project: str,
    name: str,
    description: str | None = typer.Option(None, help="The new description."),
    example: list[str] | None = ExampleOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Set a class's description and/or replace its example texts; with neither, show it."""
    with get_store().session() as session:
        c = svc.describe_class(
            session, get_project(session, project), name, description, example if example else None
        )
        data = class_view(session, c)
    if as_json:
        emit_json(data, ClassPublic)
    else:
        out.print(f"{data['name']}: {data['description'] or '(no description)'}")
        for ex in data["examples"]:
            out.print(f"  example: {ex}", markup=False)


@class_app.command("remove")
def remove(project: str, name: str, yes: bool = YesOpt) -> None:
    """Remove a class together with its labels and suggestions."""
    with get_store().session() as session:
        labels, suggestions = svc.class_usage(
            session, svc.get_class(session, get_project(session, project), name)
        )
    confirm(f"remove class {name!r} with {labels} labels and {suggestions} suggestions?", yes)
    with get_store().session() as session:
        svc.remove_class(session, get_project(session, project), name)
    out.print(f"removed class {name!r} ({labels} labels, {suggestions} suggestions)")
