"""`labelwise project ...` and `labelwise db ...`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from labelwise.cli.common import App, JsonOpt, YesOpt, confirm, emit_json, get_store, out
from labelwise.domain import LabelwiseError, ProjectKind
from labelwise.prompts import classify
from labelwise.settings import Settings
from labelwise.store import db as store_db
from labelwise.store.projects import (
    create_project,
    delete_project,
    get_project,
    list_projects,
    rename_project,
    set_prompt,
    summarize,
)

project_app = App(help="Create, list, show and delete projects.")
db_app = App(help="Database schema.")


@project_app.command("create")
def create(
    name: str,
    kind: ProjectKind = typer.Option(
        ProjectKind.SINGLE_LABEL, help="One label per document, or several."
    ),
    language: str = typer.Option(
        "en",
        help="Language of the documents (e.g. en, en-us, de); "
        "any other than English chooses the multilingual encoder.",
    ),
    multilingual: bool = typer.Option(
        False, "--multilingual", help="Documents in several languages: the multilingual encoder."
    ),
    encoder: str | None = typer.Option(
        None, help="The sentence encoder by name (see `project encoders`); overrides the choice."
    ),
    description: str = typer.Option("", help="What the project is for."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a project."""
    with get_store().session() as session:
        p = create_project(
            session, name, kind, language, description, multilingual=multilingual, encoder=encoder
        )
        data = {
            "name": p.name,
            "kind": p.kind,
            "language": p.language,
            "encoder": p.encoder,
            "description": p.description,
        }
    if as_json:
        emit_json(data)
    else:
        out.print(
            f"created {data['kind']} project {data['name']!r} "
            f"({data['language']}, encoder {data['encoder']})"
        )


@project_app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """List projects with their document counts."""
    with get_store().session() as session:
        rows = [summarize(session, p).to_dict() for p in list_projects(session)]
    if as_json:
        emit_json(rows)
        return
    table = Table("project", "kind", "language", "documents", "labeled", "classes")
    for r in rows:
        table.add_row(
            r["name"],
            r["kind"],
            r["language"],
            str(r["documents"]),
            str(r["labeled"]),
            str(len(r["classes"])),
        )
    out.print(table if rows else "no projects yet: labelwise project create NAME")


@project_app.command("show")
def show(name: str, as_json: bool = JsonOpt) -> None:
    """Show a project's counts: documents, labeled, unlabeled, per class."""
    with get_store().session() as session:
        s = summarize(session, get_project(session, name))
    if as_json:
        emit_json(s.to_dict())
        return
    out.print(f"{s.name} ({s.kind}, {s.language}, encoder {s.encoder}) {s.description}")
    out.print(
        f"documents {s.documents}: labeled {s.labeled}, unlabeled {s.unlabeled}; "
        f"train {s.train}, test {s.test}; pending suggestions {s.pending_suggestions}"
    )
    table = Table("class", "labels", "pending suggestions")
    for cname, counts in s.classes.items():
        table.add_row(cname, str(counts["labels"]), str(counts["pending_suggestions"]))
    out.print(table if s.classes else "no classes yet: labelwise class add PROJECT NAME")


@project_app.command("delete")
def delete(name: str, yes: bool = YesOpt) -> None:
    """Delete a project with all its documents, labels and suggestions."""
    with get_store().session() as session:
        s = summarize(session, get_project(session, name))
    confirm(f"delete project {name!r} with {s.documents} documents and {s.labeled} labeled?", yes)
    with get_store().session() as session:
        delete_project(session, name)
    out.print(f"deleted project {name!r}")


@project_app.command("rename")
def rename(old: str, new: str) -> None:
    """Rename a project (e.g. one whose old name the pages cannot reach)."""
    with get_store().session() as session:
        rename_project(session, old, new)
    out.print(f"renamed project {old!r} to {new!r}")


@project_app.command("set-prompt")
def set_prompt_(
    name: str,
    template: Path | None = typer.Argument(
        None,
        help="A Jinja2 file with the LLM's instructions (start from --show's output).",
        dir_okay=False,
    ),
    reset: bool = typer.Option(False, "--reset", help="Go back to the packaged instructions."),
    show: bool = typer.Option(False, "--show", help="Print the instructions template in use."),
) -> None:
    """Replace the instructions (system message) an LLM labeler gets for this project.

    The documents always follow in delimited blocks the template cannot change. A new
    template is a new prompt version: documents are labeled again under it, and answers
    cached for the old one are not reused."""
    if show:
        with get_store().session() as session:
            own = get_project(session, name).prompt
        typer.echo(own or classify.packaged_instructions(), nl=False)  # as is: no wrapping
        return
    if reset == (template is not None):
        raise LabelwiseError("give a template file, or --reset (or --show to see the current one)")
    source = template.read_text(encoding="utf-8") if template is not None else None
    with get_store().session() as session:
        p = set_prompt(session, name, source)
        version = classify.instructions_version(p.prompt)
    what = "its own instructions" if source else "the packaged instructions"
    out.print(f"project {name!r} now uses {what} (prompt version {version})")


@project_app.command("encoders")
def encoders(as_json: bool = JsonOpt) -> None:
    """List the sentence encoders, their languages, models and licences."""
    from labelwise.encoders import encoder_table

    rows = encoder_table()
    if as_json:
        emit_json(rows)
        return
    table = Table("encoder", "languages", "model", "package", "licence")
    for r in rows:
        table.add_row(r["name"], r["languages"], r["model"], r["package"], r["licence"])
    out.print(table)


@project_app.command("set-encoder")
def set_encoder_(
    name: str,
    encoder: str = typer.Argument(..., help="The encoder's name (see `project encoders`)."),
    queue: bool = typer.Option(
        False, "--queue", help="Only queue the re-embedding for `labelwise worker` or the server."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Change a project's sentence encoder and re-embed its documents (a job with progress;
    if it is interrupted, `labelwise job resume` goes on)."""
    from labelwise.cli.jobs import job_bar
    from labelwise.encoders import set_encoder
    from labelwise.jobs import runner

    store = get_store()
    change = set_encoder(store, name, encoder)
    if change.job_id is not None and not queue:
        with job_bar(as_json) as listen:
            runner.run(store, change.job_id, listen)
    if as_json:
        emit_json(change.to_dict())
    elif change.job_id is None:
        out.print(f"project {name!r} already uses encoder {encoder!r}")
    else:
        done = "queued" if queue else "done"
        out.print(
            f"project {name!r} now uses encoder {encoder!r} (was {change.previous!r}); "
            f"re-embedding job {change.job_id} {done}"
        )


@db_app.command("upgrade")
def upgrade() -> None:
    """Bring the database schema to the newest version (also done on first use)."""
    url = Settings().resolved_database_url()
    engine = store_db.make_engine(url)
    store_db.upgrade(engine)
    out.print(f"database at revision {store_db.current_revision(engine)}")
    engine.dispose()


@db_app.command("current")
def current(as_json: bool = JsonOpt) -> None:
    """Print the database's schema revision and the newest one shipped."""
    engine = store_db.make_engine(Settings().resolved_database_url())
    data = {"current": store_db.current_revision(engine), "head": store_db.head_revision()}
    engine.dispose()
    if as_json:
        emit_json(data)
    else:
        out.print(f"current {data['current']}, newest {data['head']}")
