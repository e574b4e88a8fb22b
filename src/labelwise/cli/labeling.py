"""`labelwise suggest`: run a labeler over documents and store its suggestions."""

from __future__ import annotations

from pathlib import Path

import typer

from labelwise.cli.common import JsonOpt, emit_json, get_store, out, progress_bar
from labelwise.domain import LabelwiseError


def parse_docs(value: str) -> str | list[str]:
    """``unlabeled`` / ``all`` / ``auto-labeled``, or a file with one document name a line."""
    if value in ("unlabeled", "all", "auto-labeled"):
        return value
    path = Path(value)
    if not path.is_file():
        raise LabelwiseError(f"--docs {value!r} is neither unlabeled, all, auto-labeled nor a "
                             "file of document names")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [n for n in names if n]


def parse_classes(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def suggest(
    project: str,
    labeler: str = typer.Option("embedded", help="embedded (offline, the default)."),
    docs: str = typer.Option("unlabeled", help="unlabeled, all, auto-labeled, or a file of "
                             "document names (one a line)."),
    classes: str | None = typer.Option(None, help="Only these classes, comma-separated "
                                       "[default: all]."),
    limit: int | None = typer.Option(None, min=1, help="At most this many documents."),
    as_json: bool = JsonOpt,
) -> None:
    """Suggest labels for documents with a labeler and store them for review."""
    from labelwise.autolabel import suggest as run
    from labelwise.labelers import labeler_class
    from labelwise.store.embeddings import StoreVectorCache

    store = get_store()
    cls = labeler_class(labeler)
    if cls.name == "embedding":
        instance = cls(cache=StoreVectorCache(store))  # type: ignore[call-arg]
    else:
        instance = cls()
    with progress_bar(f"suggesting with {cls.name}", quiet=as_json) as on_progress:
        report = run(store, project, instance, docs=parse_docs(docs),
                     classes=parse_classes(classes), limit=limit, on_progress=on_progress)
    if as_json:
        emit_json(report.to_dict())
        return
    out.print(f"{report.suggestions} suggestions for {report.suggested} of {report.documents} "
              f"documents ({report.labeler}, {report.model}); {report.skipped} skipped, "
              f"{report.failed} failed")
    for reason, examples in report.failures.items():
        out.print(f"  failed ({reason}): {'; '.join(examples)}")
    out.print(f"review them: labelwise docs {project} --filter auto-labeled")
