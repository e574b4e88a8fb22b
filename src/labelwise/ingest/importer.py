"""Import documents into a project, streaming, one transaction per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from labelwise.domain import (
    Conflict,
    Dataset,
    DocumentRecord,
    LabelwiseError,
    NotFound,
    ProjectKind,
    RecordError,
    validate_class_name,
)
from labelwise.ingest import azure
from labelwise.ingest.readers import read_csv, read_folder, read_jsonl
from labelwise.ingest.records import ImportFailure, Options
from labelwise.ingest.sources import Source, open_source
from labelwise.store import Store, search
from labelwise.store.classes import add_class, list_classes
from labelwise.store.db import refresh_statistics
from labelwise.store.documents import write_batch
from labelwise.store.projects import create_project, get_project

FORMATS = ("auto", "folder", "csv", "jsonl", "azure")
Progress = Callable[[int, int | None], None]
MAX_LISTED = 50  # duplicates listed by name in a report


@dataclass
class ImportReport:
    """What an import did; errors name the file and line or document of each bad record."""

    source: str
    format: str
    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    duplicates: int = 0
    duplicate_names: list[str] = field(default_factory=list)
    classes_created: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.inserted + self.replaced

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_format(source: Source) -> str:
    if source.is_dir:
        return "azure" if azure.is_azure_file(source) else "folder"
    suffix = source.suffix
    if suffix in ("csv", "tsv"):
        return "csv"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "json":
        if azure.is_azure_file(source):
            return "azure"
        raise ImportFailure(
            f"{source.url}: a .json file that is not an Azure project export (no "
            "'projectFileVersion'); for one JSON object per line, choose the jsonl format"
        )
    raise ImportFailure(
        f"{source.url}: cannot tell the format from the name; choose one of "
        "folder, csv, jsonl or azure"
    )


def run_import(
    store: Store,
    project_name: str,
    url: str,
    *,
    fmt: str = "auto",
    options: Options | None = None,
    replace: bool = False,
    create_classes: bool = False,
    dataset: Dataset | None = None,
    language: str | None = None,
    batch_size: int = 2000,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Read ``url`` and store its documents in ``project_name``.

    Good records are stored batch by batch (each batch one transaction); bad ones are listed in
    the report. An Azure export creates the project when it does not exist yet.
    """
    options = options or Options()
    if fmt not in FORMATS:
        raise ImportFailure(f"format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")
    source = open_source(url)
    fmt = detect_format(source) if fmt == "auto" else fmt
    report = ImportReport(source=url, format=fmt)
    created = fmt == "azure" and not _exists(store, project_name)
    try:
        items, total = _open_items(store, project_name, source, fmt, options, report)
        progress = on_progress or (lambda done, total: None)

        batch: list[DocumentRecord] = []
        done = flushed = 0
        progress(0, total)
        for item in items:
            done += 1
            if isinstance(item, RecordError):
                report.errors.append({"where": item.where, "reason": item.reason})
            else:
                if dataset is not None and item.dataset is None:
                    item.dataset = dataset
                if language and not item.language:
                    item.language = language
                batch.append(item)
            if len(batch) >= batch_size:
                _flush(store, project_name, batch, report, replace, create_classes)
                batch = []
                flushed += 1
                if flushed & (flushed - 1) == 0:  # after batch 1, 2, 4, 8, ...: tables grew
                    with store.session() as session:
                        refresh_statistics(session)
                progress(done, total)
        if batch:
            _flush(store, project_name, batch, report, replace, create_classes)
        progress(done, total if total is not None else done)
        report.warnings.extend(options.warnings)
        if done == 0:
            raise ImportFailure(
                f"{source.url}: no documents in it (the file is empty, or the folder has no "
                ".txt files)"
            )
    except BaseException:
        if created:  # a failed import leaves no empty project behind
            _drop_if_empty(store, project_name)
        raise
    if created and report.stored == 0 and _drop_if_empty(store, project_name):
        first = report.errors[0] if report.errors else None
        raise ImportFailure(
            f"{url}: no document could be imported, so project {project_name!r} was not created"
            + (f"; first problem: {first['where']}: {first['reason']}" if first else "")
        )
    _index_for_search(store)
    return report


INDEX_NOW = 50_000  # documents: about two seconds of indexing


def _index_for_search(store: Store) -> None:
    """Index what the import added for search when that is quick; a larger backlog is indexed
    by the server in the background (search is right meanwhile, only slower)."""
    with store.session() as session:
        if search.pending(session) > INDEX_NOW:
            return
    while True:
        with store.session() as session:
            if not search.index_pending(session):
                return


def _exists(store: Store, name: str) -> bool:
    with store.session() as session:
        try:
            get_project(session, name)
        except NotFound:
            return False
    return True


def _drop_if_empty(store: Store, name: str) -> bool:
    """Delete project ``name`` when it holds no document (an import created it and failed)."""
    from sqlalchemy import func, select

    from labelwise.store.models import Document

    with store.session() as session:
        try:
            project = get_project(session, name)
        except NotFound:
            return False
        if session.scalar(select(func.count()).where(Document.project_id == project.id)):
            return False
        session.delete(project)
    return True


def _open_items(
    store: Store,
    project_name: str,
    source: Source,
    fmt: str,
    options: Options,
    report: ImportReport,
) -> tuple[Iterable[DocumentRecord | RecordError], int | None]:
    if fmt == "azure":
        meta = azure.load(source, options)
        _prepare_azure_project(store, project_name, meta, report)
        return azure.read_documents(meta, options), len(meta.documents)
    _require_project(store, project_name)
    if fmt == "folder":
        if not source.is_dir:
            raise ImportFailure(f"{source.url}: not a folder; pass a folder of .txt files")
        return read_folder(source, options), sum(1 for _ in source.find(".txt"))
    if source.is_dir:
        raise ImportFailure(f"{source.url}: is a folder; the {fmt} format needs a file")
    lines = source.count_lines()
    if fmt == "csv":
        return read_csv(source, options), (max(lines - 1, 0) if lines is not None else None)
    return read_jsonl(source, options), lines


def _require_project(store: Store, name: str) -> None:
    with store.session() as session:
        get_project(session, name)


def _prepare_azure_project(
    store: Store, name: str, meta: azure.AzureProject, report: ImportReport
) -> None:
    with store.session() as session:
        try:
            project = get_project(session, name)
        except NotFound:
            project = create_project(
                session,
                name,
                meta.kind,
                meta.language,
                meta.description,
                multilingual=meta.multilingual,
            )
        if project.kind != meta.kind:
            raise Conflict(
                f"{meta.url} is a {meta.kind} project but {name!r} is {project.kind}; "
                "import it into a new project name"
            )
        have = {c.name: c for c in list_classes(session, project)}
        for cls in meta.classes:
            if cls["name"] in have:
                target = have[cls["name"]]
                target.description = cls["description"] or target.description
                target.examples = cls["examples"] or target.examples
            else:
                add_class(session, project, cls["name"], cls["description"], cls["examples"])
                report.classes_created.append(cls["name"])


def _flush(
    store: Store,
    project_name: str,
    batch: list[DocumentRecord],
    report: ImportReport,
    replace: bool,
    create_classes: bool,
) -> None:
    """Write one batch in one transaction; a failure leaves earlier batches stored. When the
    database refuses the batch, its records are written one by one, so that only the record it
    refuses is reported (by file and line) and its neighbours are stored."""
    try:
        result = _write(store, project_name, batch, report, replace, create_classes)
    except LabelwiseError:
        raise
    except DBAPIError:
        if len(batch) == 1:
            raise
        for record in batch:
            try:
                _flush(store, project_name, [record], report, replace, create_classes)
            except DBAPIError as exc:
                reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else "refused"
                report.errors.append(
                    {"where": record.where, "reason": f"the database refused it ({reason})"}
                )
        return
    _count(report, result)


def _write(
    store: Store,
    project_name: str,
    batch: list[DocumentRecord],
    report: ImportReport,
    replace: bool,
    create_classes: bool,
) -> Any:
    with store.session() as session:
        project = get_project(session, project_name)
        class_ids = {c.name: c.id for c in list_classes(session, project)}
        if create_classes:
            batch = list(_create_missing(session, project, batch, class_ids, report))
        return write_batch(session, project, batch, class_ids, replace=replace)


def _count(report: ImportReport, result: Any) -> None:
    report.inserted += result.inserted
    report.replaced += result.replaced
    report.unchanged += result.unchanged
    report.duplicates += len(result.duplicates)
    room = MAX_LISTED - len(report.duplicate_names)
    report.duplicate_names.extend(result.duplicates[: max(room, 0)])
    report.errors.extend({"where": e.where, "reason": e.reason} for e in result.errors)


def _create_missing(
    session: Any,
    project: Any,
    batch: list[DocumentRecord],
    class_ids: dict[str, int],
    report: ImportReport,
) -> Iterator[DocumentRecord]:
    for rec in batch:
        try:
            for name in rec.labels or ():
                if name not in class_ids:
                    validate_class_name(name)
                    if project.kind == ProjectKind.SINGLE_LABEL and len(rec.labels or ()) > 1:
                        break  # write_batch reports the record
                    class_ids[name] = add_class(session, project, name).id
                    report.classes_created.append(name)
        except LabelwiseError as exc:
            report.errors.append({"where": rec.where, "reason": str(exc)})
            continue
        yield rec
