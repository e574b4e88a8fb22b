"""Checks every importer applies to a document before it reaches the store."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from labelwise.domain import MAX_DOCUMENT_CHARS, LabelwiseError, RecordError

# what errors="surrogateescape" makes of invalid UTF-8, and lone surrogates from JSON escapes
_BAD_BYTES = re.compile("[\ud800-\udfff]")
MAX_NAME = 1000
MAX_LANGUAGE = 20
LANGUAGE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
MAX_INT_DIGITS = 30  # a JSON number longer than this is refused, not parsed


class MalformedJson(ValueError):
    """JSON that parses but cannot be used: nested too deeply, or a number too long."""


def _bounded_int(digits: str) -> int:
    if len(digits) > MAX_INT_DIGITS:
        raise MalformedJson(f"a number of {len(digits)} digits (the limit is {MAX_INT_DIGITS})")
    return int(digits)


def loads_bounded(text: str | bytes) -> object:
    """``json.loads`` that refuses very long numbers and deep nesting with
    :class:`MalformedJson` instead of hanging, overflowing or raising RecursionError."""
    try:
        return json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise MalformedJson("nested too deeply") from None


def bad_characters(value: str) -> str | None:
    """Why ``value`` cannot be stored as text on every database, or None."""
    if _BAD_BYTES.search(value):
        return "is not valid UTF-8 (a lone surrogate or an invalid byte); re-save it as UTF-8"
    if "\x00" in value:
        return "contains a NUL character, which no database stores in text; remove it"
    return None


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
    problem = bad_characters(text)
    if problem:
        raise RecordError(where, f"text {problem}")
    if not text.strip():
        raise RecordError(where, "document is empty; empty documents are refused (as in Azure)")
    if len(text) > MAX_DOCUMENT_CHARS:
        if not options.truncate:
            raise RecordError(
                where,
                (
                    f"document has {len(text):,} characters, "
                    f"over the {MAX_DOCUMENT_CHARS:,} limit; "
                    "split it, or import it with truncation to keep the first "
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
    problem = bad_characters(name)
    if problem:
        raise RecordError(where, f"document name {problem}")
    return name


def check_language(value: object, where: str) -> str | None:
    """A language code (``en``, ``en-us``, ``zh-hans``) of at most 20 characters, or None."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not LANGUAGE.match(text):
        raise RecordError(
            where,
            f"language {text[:30]!r} is not a language code like 'en' or 'en-us' "
            f"(letters, digits and '-', at most {MAX_LANGUAGE} characters)",
        )
    return text


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
    problem = next((bad_characters(p) for p in parts if bad_characters(p)), None)
    if problem:
        raise RecordError(where, f"label {problem}")
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
