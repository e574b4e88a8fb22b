"""Checks every importer applies to a document before it reaches the store."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from labelwise.domain import MAX_DOCUMENT_CHARS, LabelwiseError, RecordError

_BAD_BYTES = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" makes of invalid UTF-8
MAX_NAME = 1000


class ImportFailure(LabelwiseError):
    """The whole input is unusable (unreadable file, wrong column, malformed JSON)."""


@dataclass
class Options:
    """How an importer reads its input (the CLI's import flags)."""

    text_column: str | None = None
    name_column: str | None = None
    label_column: str | None = None
    label_separator: str = ","
    documents: str | None = None  # Azure: where the .txt files are
    truncate: bool = False
    warnings: list[str] = field(default_factory=list)


def check_text(text: str, where: str, options: Options) -> str:
    """The document text, or a :class:`RecordError` saying why it is refused."""
    if _BAD_BYTES.search(text):
        raise RecordError(where, "text is not valid UTF-8; re-save the file as UTF-8")
    if not text.strip():
        raise RecordError(where, "document is empty; empty documents are refused (as in Azure)")
    if len(text) > MAX_DOCUMENT_CHARS:
        if not options.truncate:
            raise RecordError(
                where,
                (
                    f"document has {len(text):,} characters, "
                    f"over the {MAX_DOCUMENT_CHARS:,} limit; "
                    "split it, or import with --truncate to keep the first "
                    f"{MAX_DOCUMENT_CHARS:,}"
                ),
            )
        options.warnings.append(f"{where}: truncated from {len(text):,} characters")
        text = text[:MAX_DOCUMENT_CHARS]
    return text


def check_name(name: str, where: str) -> str:
    name = name.strip()
    if not name:
        raise RecordError(where, "document name is empty")
    if len(name) > MAX_NAME:
        raise RecordError(where, f"document name is over {MAX_NAME} characters")
    if _BAD_BYTES.search(name):
        raise RecordError(where, "document name is not valid UTF-8")
    return name


def split_labels(value: object, separator: str, where: str) -> tuple[str, ...]:
    """Labels from a cell (``"a,b"``) or a JSON value (``["a", "b"]`` / ``"a"`` / null)."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split(separator) if separator else [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = value
    else:
        raise RecordError(where, f"labels must be text or a list of text, not {value!r:.60}")
    if any(_BAD_BYTES.search(p) for p in parts):
        raise RecordError(where, "label is not valid UTF-8")
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
