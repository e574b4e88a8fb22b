"""`labelwise import / export / docs / doc / label / unlabel / dataset`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from labelwise.cli.common import (
    ClassFilterOpt,
    DatasetFilterOpt,
    FilterOpt,
    JobFilterOpt,
    JsonOpt,
    LabelerFilterOpt,
    MaxConfidenceOpt,
    MinConfidenceOpt,
    SearchOpt,
    document_query,
    emit_json,
    err,
    get_store,
    out,
    progress_bar,
)
from labelwise.domain import Dataset, DocFilter, LabelwiseError
from labelwise.ingest.exporter import export_project
from labelwise.ingest.importer import run_import
from labelwise.ingest.records import Options
from labelwise.schemas import DocumentListPublic, DocumentPublic
from labelwise.store import documents as docs_svc
from labelwise.store import labels as label_svc
from labelwise.store.classes import get_class
from labelwise.store.projects import get_project
from labelwise.store.views import document_view, listing_page

FormatOpt = typer.Option(
    "auto", "--format", "-f", help="auto (from the name), folder, csv, jsonl or azure."
)


def import_(
    project: str = typer.Argument(
        ..., help="The project to import into (an Azure export creates it when missing)."
    ),
    source: str = typer.Argument(
        ...,
        help="A folder of .txt files, a .csv/.jsonl file, an "
        "Azure project .json (or its export folder), or an fsspec URL.",
    ),
    fmt: str = FormatOpt,
    text_column: str | None = typer.Option(
        None, help="Column/field with the text [default: text]."
    ),
    name_column: str | None = typer.Option(
        None, help="Column/field with the document name [default: name or id, else <file>-<row>]."
    ),
    label_column: str | None = typer.Option(
        None, help="Column/field with user labels [default: labels, if present]."
    ),
    label_separator: str = typer.Option(",", help="Separator of several labels in one cell."),
    create_classes: bool = typer.Option(
        False, help="Add classes named by labels that the project does not have yet."
    ),
    documents: str | None = typer.Option(
        None, help="Azure: the folder holding the documents' .txt files."
    ),
    replace: bool = typer.Option(
        False,
        help="Replace the text of documents already stored "
        "under the same name (otherwise they are skipped).",
    ),
    truncate: bool = typer.Option(
        False, help="Cut documents over 128,000 characters instead of refusing them."
    ),
    dataset: Dataset | None = typer.Option(
        None, help="Dataset for documents that do not say [default: train]."
    ),
    language: str | None = typer.Option(
        None, help="Language for documents that do not say [default: the project's]."
    ),
    batch_size: int = typer.Option(2000, min=1, help="Documents per transaction."),
    as_json: bool = JsonOpt,
) -> None:
    """Import documents (and their labels) into a project."""
    options = Options(
        text_column=text_column,
        name_column=name_column,
        label_column=label_column,
        label_separator=label_separator,
        documents=documents,
        truncate=truncate,
    )
    with progress_bar(f"importing {source}", quiet=as_json) as on_progress:
        report = run_import(
            get_store(),
            project,
            source,
            fmt=fmt,
            options=options,
            replace=replace,
            create_classes=create_classes,
            dataset=dataset,
            language=language,
            batch_size=batch_size,
            on_progress=on_progress,
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        out.print(
            f"{report.inserted} imported, {report.replaced} replaced, "
            f"{report.unchanged} unchanged, {report.duplicates} duplicates skipped, "
            f"{len(report.errors)} refused ({report.format})"
        )
        if report.classes_created:
            out.print(f"classes created: {', '.join(report.classes_created)}")
        if report.duplicates and not replace:
            shown = ", ".join(report.duplicate_names[:10])
            out.print(
                f"duplicates (already stored; use --replace to overwrite): {shown}"
                + (" ..." if report.duplicates > 10 else "")
            )
        for line in report.warnings:
            err.print(f"note: {line}")
        for e in report.errors[:100]:
            err.print(f"refused {e['where']}: {e['reason']}")
        if len(report.errors) > 100:
            err.print(f"... and {len(report.errors) - 100} more (see --json)")
    if report.errors:
        raise typer.Exit(1)


def export(
    project: str,
    out_path: Path = typer.Argument(
        ..., metavar="OUT", help="A file (csv, jsonl) or a folder (azure)."
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="azure, csv or jsonl (default: from OUT's suffix)."
    ),
    include_suggestions: bool = typer.Option(
        False, help="Also write pending suggestions with their confidence (csv, jsonl)."
    ),
    label_separator: str = typer.Option(",", help="CSV: separator between several labels."),
) -> None:
    """Export a project to Azure's project format, CSV or JSONL."""
    fmt = fmt or export_format(out_path)
    n = export_project(
        get_store(),
        project,
        out_path,
        fmt,
        include_suggestions=include_suggestions,
        label_separator=label_separator,
    )
    out.print(f"exported {n} documents to {out_path} ({fmt})")


def export_format(path: Path) -> str:
    """The format an export path's suffix names: .csv, .jsonl, or none (a folder: azure)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl"):
        return suffix[1:]
    if not suffix or path.is_dir():
        return "azure"
    raise LabelwiseError(
        f"cannot tell the export format from {path.name!r}; name a .csv or .jsonl file or a "
        "folder (azure), or pass --format"
    )


def docs(
    project: str,
    which: DocFilter = FilterOpt,
    class_name: str | None = ClassFilterOpt,
    dataset: Dataset | None = DatasetFilterOpt,
    search: str | None = SearchOpt,
    min_confidence: float | None = MinConfidenceOpt,
    max_confidence: float | None = MaxConfidenceOpt,
    labeler: str | None = LabelerFilterOpt,
    job: int | None = JobFilterOpt,
    sort: str = typer.Option(
        "id",
        help="id, or informative: the documents whose labelers disagree, then those whose "
        "suggestion is least certain, first.",
    ),
    limit: int = typer.Option(50, min=1, help="At most this many."),
    after: int = typer.Option(0, help="Start after this document id (paging in id order)."),
    offset: int = typer.Option(0, min=0, help="Skip this many (paging with --sort informative)."),
    as_json: bool = JsonOpt,
) -> None:
    """List documents: all, unlabeled, labeled or auto-labeled (suggestions to review)."""
    if sort not in ("id", "informative"):
        raise LabelwiseError(f"--sort {sort!r} is neither id nor informative")
    query = document_query(
        filter=which,
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
        page = listing_page(
            session,
            p,
            query,
            limit,
            after,
            sort="informative" if sort == "informative" else "id",
            offset=offset,
        )
    if as_json:
        emit_json(page, DocumentListPublic)
        return
    data = page["documents"]
    table = Table("id", "name", "set", "labels", "suggestions", "text")
    for r in data:
        sug = ", ".join(f"{s['class']} {s['confidence']:.2f}" for s in r["suggestions"])
        text = str(r["excerpt"]).replace("\n", " ")
        table.add_row(
            str(r["id"]),
            str(r["name"]),
            str(r["dataset"]),
            ", ".join(r["labels"]),
            sug,
            text[:80] + ("…" if len(text) > 80 else ""),
        )
    out.print(table if data else "no documents match")
    if page["next_after"] is not None:
        out.print(f"more: --after {page['next_after']}")
    elif sort == "informative" and len(data) == limit:
        out.print(f"more: --sort informative --offset {offset + limit}")


def doc(project: str, name: str, as_json: bool = JsonOpt) -> None:
    """Show one document with its user labels and the suggestions offered for review."""
    with get_store().session() as session:
        p = get_project(session, project)
        data = document_view(session, p, docs_svc.get_document(session, p, name))
    if as_json:
        emit_json(data, DocumentPublic)
        return
    out.print(f"{data['name']} ({data['dataset']}, {data['language']})")
    out.print(f"labels: {', '.join(data['labels']) or '(none)'}")
    for sug in data["suggestions"]:
        out.print(
            f"suggested: {sug['class']} ({sug['confidence']:.2f}, {sug['labeler']}) id {sug['id']}"
        )
    out.print(str(data["text"]))


def label(
    project: str,
    document: str = typer.Argument(..., metavar="DOC"),
    classes: list[str] = typer.Argument(..., metavar="CLASS..."),
    add: bool = typer.Option(
        False, help="Multi-label: add to the labels the document has instead of replacing them."
    ),
) -> None:
    """Give a document user labels (a single-label project takes exactly one)."""
    with get_store().session() as session:
        p = get_project(session, project)
        d = docs_svc.get_document(session, p, document)
        now = label_svc.set_labels(
            session, p, d, [get_class(session, p, c) for c in classes], replace=not add
        )
    out.print(f"{document}: {', '.join(now)}")


def unlabel(
    project: str,
    document: str = typer.Argument(..., metavar="DOC"),
    classes: list[str] | None = typer.Argument(
        None, metavar="[CLASS...]", help="Default: every label of the document."
    ),
) -> None:
    """Remove user labels from a document."""
    with get_store().session() as session:
        p = get_project(session, project)
        d = docs_svc.get_document(session, p, document)
        n = label_svc.remove_labels(session, d, [get_class(session, p, c) for c in classes or ()])
    out.print(f"{document}: removed {n} label{'s' if n != 1 else ''}")


def dataset(
    project: str,
    which: Dataset = typer.Argument(..., metavar="train|test"),
    documents: list[str] = typer.Argument(..., metavar="DOC..."),
) -> None:
    """Put documents in the train or the test set."""
    with get_store().session() as session:
        n = docs_svc.set_dataset(session, get_project(session, project), documents, which)
    out.print(f"{n} document{'s' if n != 1 else ''} now in {which.value}")
