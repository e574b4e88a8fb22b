"""Export a project to Azure's project format, CSV or JSONL, streaming in pages."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelwise.domain import LabelwiseError
from labelwise.embeddings.registry import MULTILINGUAL
from labelwise.ingest import azure
from labelwise.store import Store
from labelwise.store.classes import list_classes
from labelwise.store.documents import labels_by_document
from labelwise.store.labels import suggestions_by_document
from labelwise.store.projects import get_project
from labelwise.store.query import DocumentQuery

EXPORT_FORMATS = ("azure", "csv", "jsonl")
PAGE = 1000


def iter_documents(
    store: Store, project_name: str, include_suggestions: bool = False
) -> Iterator[dict[str, Any]]:
    """Every document with its user labels (and pending suggestions), a page per transaction."""
    after = 0
    while True:
        with store.session() as session:
            project = get_project(session, project_name)
            docs = DocumentQuery().documents(session, project, limit=PAGE, after_id=after)
            if not docs:
                return
            ids = [d.id for d in docs]
            labels = labels_by_document(session, ids)
            suggestions = (
                suggestions_by_document(session, project, ids) if include_suggestions else {}
            )
        for doc in docs:
            row: dict[str, Any] = {
                "name": doc.name,
                "text": doc.text,
                "dataset": doc.dataset,
                "language": doc.language,
                "labels": labels[doc.id],
            }
            if include_suggestions:
                row["suggestions"] = [
                    {"class": c, "confidence": round(p, 6)} for c, p in suggestions[doc.id]
                ]
            yield row
        after = docs[-1].id


def export_project(
    store: Store,
    project_name: str,
    out: Path,
    fmt: str,
    *,
    include_suggestions: bool = False,
    label_separator: str = ",",
) -> int:
    """Write the project to ``out``; returns the number of documents written."""
    if fmt not in EXPORT_FORMATS:
        raise LabelwiseError(f"export format {fmt!r} is unknown; use azure, csv or jsonl")
    with store.session() as session:
        project = get_project(session, project_name)
        meta = {
            "name": project.name,
            "kind": project.kind,
            "language": project.language,
            "description": project.description,
            "multilingual": project.encoder == MULTILINGUAL,
        }
        classes = [
            {"name": c.name, "description": c.description, "examples": c.examples}
            for c in list_classes(session, project)
        ]
    docs = iter_documents(store, project_name, include_suggestions)
    if fmt == "azure":
        if out.exists() and not out.is_dir():
            raise LabelwiseError(f"{out} is a file; the Azure export writes a folder")
        return azure.write_project(out, meta, classes, docs)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        return _write_jsonl(out, docs)
    if any(label_separator in c["name"] for c in classes):
        raise LabelwiseError(
            f"a class name contains the label separator {label_separator!r}; "
            "choose another label separator"
        )
    return _write_csv(out, docs, include_suggestions, label_separator)


def _write_jsonl(out: Path, docs: Iterator[dict[str, Any]]) -> int:
    count = 0
    with out.open("w", encoding="utf-8") as fh:
        for row in docs:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def _write_csv(
    out: Path, docs: Iterator[dict[str, Any]], include_suggestions: bool, sep: str
) -> int:
    columns = ["name", "text", "dataset", "language", "labels"]
    if include_suggestions:
        columns.append("suggestions")  # class:confidence, ':' cannot occur in a class name
    count = 0
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in docs:
            cells = [
                row["name"],
                row["text"],
                row["dataset"],
                row["language"],
                sep.join(row["labels"]),
            ]
            if include_suggestions:
                cells.append(
                    sep.join(f"{s['class']}:{s['confidence']:.4f}" for s in row["suggestions"])
                )
            writer.writerow(cells)
            count += 1
    return count
