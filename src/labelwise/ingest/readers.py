"""Readers for a folder of .txt files, CSV and JSONL: each yields records or record errors."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence

from labelwise.domain import DocumentRecord, LabelwiseError, RecordError, parse_dataset
from labelwise.ingest.records import (
    ImportFailure,
    MalformedJson,
    Options,
    check_language,
    check_name,
    check_text,
    loads_bounded,
    split_labels,
)
from labelwise.ingest.sources import Source

Item = DocumentRecord | RecordError
NAME_COLUMNS = ("name", "id")
LABEL_COLUMNS = ("labels", "label")
DELIMITERS = (",", ";", "\t", "|")


def read_folder(source: Source, options: Options) -> Iterator[Item]:
    """Every ``.txt`` file under the folder (recursive); the name is its relative path."""
    for relative in source.find(".txt"):
        where = f"{source.url.rstrip('/')}/{relative}"
        try:
            with source.open_bytes(source.child(relative)) as fh:
                raw = fh.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise RecordError(
                    where, (f"not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8")
                ) from None
            yield DocumentRecord(
                check_name(relative, where), check_text(text, where, options), where=where
            )
        except RecordError as err:
            yield err


def _pick(
    columns: Sequence[str],
    asked: str | None,
    defaults: Sequence[str],
    what: str,
    flag: str,
    where: str,
) -> str | None:
    if asked is not None:
        if asked not in columns:
            raise ImportFailure(
                f"{where}: no column {asked!r} for the {what}; the columns are: "
                f"{', '.join(columns)}; name the {flag}"
            )
        return asked
    return next((c for c in defaults if c in columns), None)


class _Columns:
    """Which input columns hold what, decided once from the header or the first object."""

    def __init__(self, columns: Sequence[str], options: Options, where: str) -> None:
        text = _pick(columns, options.text_column, ("text",), "text", "text column", where)
        if text is None:
            raise ImportFailure(
                f"{where}: no 'text' column; the columns are: {', '.join(columns)}. "
                "name the column that holds the text"
            )
        self.text = text
        self.name = _pick(columns, options.name_column, NAME_COLUMNS, "name", "name column", where)
        self.labels = _pick(
            columns, options.label_column, LABEL_COLUMNS, "labels", "label column", where
        )
        self.columns = list(columns)
        self.dataset = "dataset" if "dataset" in columns else None
        self.language = "language" if "language" in columns else None

    def describe(self) -> str:
        used = [
            ("text", self.text),
            ("name", self.name),
            ("labels", self.labels),
            ("dataset", self.dataset),
            ("language", self.language),
        ]
        text = ", ".join(f"{k} from {v!r}" for k, v in used if v)
        ignored = [c for c in self.columns if c not in {v for _, v in used}]
        return text + (f"; ignored: {', '.join(repr(c) for c in ignored)}" if ignored else "")


def _record(
    row: dict[str, object], cols: _Columns, options: Options, where: str, default_name: str
) -> DocumentRecord:
    text = row.get(cols.text)
    if not isinstance(text, str):
        raise RecordError(where, f"{cols.text!r} is {'missing' if text is None else 'not text'}")
    raw_name = row.get(cols.name) if cols.name else default_name
    if raw_name is None or raw_name == "":
        raise RecordError(where, f"{cols.name!r} (the document name) is empty")
    name = check_name(str(raw_name), where)
    labels = (
        split_labels(row.get(cols.labels), options.label_separator, where) if cols.labels else None
    )
    dataset = None
    if cols.dataset and row.get(cols.dataset) not in (None, ""):
        try:
            dataset = parse_dataset(str(row[cols.dataset]), where)
        except LabelwiseError as exc:
            raise RecordError(where, str(exc)) from None
    language = check_language(row.get(cols.language), where) if cols.language else None
    return DocumentRecord(
        name,
        check_text(text, where, options),
        where=where,
        language=language,
        dataset=dataset,
        labels=labels,
    )


def read_csv(source: Source, options: Options) -> Iterator[Item]:
    """Rows of a CSV file with a header; names default to ``<file stem>-<row number>``."""
    csv.field_size_limit(1 << 30)  # long documents are checked (and refused) by check_text
    with source.open_text() as fh:
        # strict: a quote that is never closed is an error naming its line, not a field that
        # silently swallows the rest of the file
        reader = csv.reader(fh, strict=True, delimiter=_delimiter(source))
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFailure(f"{source.url}: the file is empty") from None
        except csv.Error as exc:
            raise ImportFailure(f"{source.url}: not a CSV file ({exc})") from exc
        header = [h.strip() for h in header]
        cols = _Columns(header, options, source.url)
        options.warnings.append(f"{source.url}: columns used: {cols.describe()}")
        number = 0
        while True:
            first_line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                hint = (
                    "a quote opened on this line is never closed"
                    if "end of data" in str(exc)
                    else "a quoted field must be followed by a comma or the end of the line"
                )
                yield RecordError(f"{source.url}:{first_line}", f"malformed CSV ({exc}): {hint}")
                continue  # the reader starts afresh on the next line
            number += 1
            where = f"{source.url}:{reader.line_num}"
            if not cells:
                continue
            if len(cells) != len(header):
                yield RecordError(
                    where,
                    (
                        f"{len(cells)} fields where the header has {len(header)}; "
                        "quote fields that contain commas or line breaks"
                    ),
                )
                continue
            try:
                yield _record(
                    dict(zip(header, cells, strict=True)),
                    cols,
                    options,
                    where,
                    f"{source.stem}-{number}",
                )
            except RecordError as err:
                yield err


def _delimiter(source: Source) -> str:
    """The header line's separator: a comma, unless the header holds none and one of ``;``,
    tab or ``|`` (spreadsheets in many locales write ``;``; a .tsv uses tabs)."""
    with source.open_text() as fh:
        header = fh.readline()
    if "," in header:
        return ","
    found = [d for d in DELIMITERS[1:] if d in header]
    return max(found, key=header.count) if found else ","


def read_jsonl(source: Source, options: Options) -> Iterator[Item]:
    """One JSON object per line; names default to ``<file stem>-<line number>``."""
    cols: _Columns | None = None
    seen_keys: frozenset[str] = frozenset()
    known: dict[frozenset[str], _Columns] = {}
    with source.open_bytes() as fh:
        for number, raw in enumerate(fh, start=1):
            where = f"{source.url}:{number}"
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield RecordError(
                    where,
                    f"not valid UTF-8 (byte {exc.start} of the line); re-save the file as UTF-8",
                )
                continue
            try:
                obj = loads_bounded(line)
            except json.JSONDecodeError as exc:
                yield RecordError(where, f"malformed JSON at column {exc.colno}: {exc.msg}")
                continue
            except MalformedJson as exc:
                yield RecordError(where, f"unusable JSON: {exc}")
                continue
            if not isinstance(obj, dict):
                yield RecordError(
                    where, 'each line must be a JSON object like {"name": ..., "text": ...}'
                )
                continue
            keys = frozenset(obj)
            if cols is None or keys != seen_keys:  # lines may differ in their optional fields
                cols, seen_keys = known.get(keys) or _Columns(list(obj), options, source.url), keys
                if keys not in known:
                    known[keys] = cols
                    options.warnings.append(f"{source.url}: fields used: {cols.describe()}")
            try:
                yield _record(obj, cols, options, where, f"{source.stem}-{number}")
            except RecordError as err:
                yield err
