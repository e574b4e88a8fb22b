"""Azure Language custom text classification project files (``projectFileVersion`` JSON).

Export writes ``OUT/project.json`` (the Azure file), the documents as ``OUT/documents/<location>``
and ``OUT/labelwise-classes.json`` (class descriptions and examples, which Azure's format has no
place for), so that importing ``OUT`` back loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from labelwise.domain import (
    Dataset,
    DocumentRecord,
    LabelwiseError,
    ProjectKind,
    RecordError,
    parse_dataset,
)
from labelwise.ingest.records import (
    ImportFailure,
    MalformedJson,
    Options,
    check_language,
    check_name,
    check_text,
    loads_bounded,
)
from labelwise.ingest.sources import Source, open_source

PROJECT_FILE = "project.json"
EXTRAS_FILE = "labelwise-classes.json"
DOCUMENTS_DIR = "documents"
FILE_VERSION = "2022-05-01"
KINDS = {
    "CustomSingleLabelClassification": ProjectKind.SINGLE_LABEL,
    "CustomMultiLabelClassification": ProjectKind.MULTI_LABEL,
}
AZURE_KINDS = {v: k for k, v in KINDS.items()}


@dataclass
class AzureProject:
    """The parts of an Azure project file that describe the project itself."""

    kind: ProjectKind
    language: str
    description: str
    classes: list[dict[str, Any]]  # name, description, examples
    documents: list[Any]
    documents_root: Source
    url: str
    multilingual: bool = False  # Azure's flag: the project gets the multilingual encoder


def is_azure_file(source: Source) -> bool:
    """A JSON file with ``projectFileVersion``, or a folder holding such a ``project.json``."""
    if source.is_dir:
        return bool(source.fs.exists(source.child(PROJECT_FILE)))
    if source.suffix != "json":
        return False
    with source.open_bytes() as fh:
        return b"projectFileVersion" in fh.read(4096)


def load(source: Source, options: Options) -> AzureProject:
    """Parse the project file; a malformed or incomplete one is an :class:`ImportFailure`."""

    folder = source if source.is_dir else None
    path = source.child(PROJECT_FILE) if folder else source.path
    url = f"{source.url.rstrip('/')}/{PROJECT_FILE}" if folder else source.url
    with source.open_bytes(path) as fh:
        raw = fh.read()
    try:
        data = loads_bounded(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ImportFailure(f"{url}: not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ImportFailure(
            f"{url}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except MalformedJson as exc:
        raise ImportFailure(f"{url}: unusable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImportFailure(f"{url}: not an Azure project export (expected a JSON object)")
    meta = _field(data, "metadata", dict, url)
    assets = _field(data, "assets", dict, url)
    kind_name = assets.get("projectKind") or meta.get("projectKind")
    if kind_name not in KINDS:
        raise ImportFailure(
            f"{url}: projectKind {kind_name!r} is not a text classification project; expected "
            f"one of {', '.join(KINDS)}"
        )
    classes = []
    for i, entry in enumerate(_field(assets, "classes", list, url, "assets.classes")):
        if not isinstance(entry, dict) or not isinstance(entry.get("category"), str):
            raise ImportFailure(f"{url}: assets.classes[{i}] has no text 'category'")
        classes.append({"name": entry["category"], "description": "", "examples": []})
    documents = _field(assets, "documents", list, url, "assets.documents")

    if options.documents:
        root = open_source(options.documents)
    else:  # the export's layout: documents/ beside project.json, else the file's own folder
        base = source.path.rstrip("/") if folder else source.path.rsplit("/", 1)[0]
        docs = base + "/" + DOCUMENTS_DIR
        root_path = docs if source.fs.isdir(docs) else base
        root = Source(url=root_path, fs=source.fs, path=root_path)
    _merge_extras(source, folder, classes)
    return AzureProject(
        kind=KINDS[kind_name],
        language=str(meta.get("language") or "en"),
        description=str(meta.get("description") or ""),
        classes=classes,
        documents=documents,
        documents_root=root,
        url=url,
        multilingual=meta.get("multilingual") is True,
    )


def _merge_extras(source: Source, folder: Source | None, classes: list[dict[str, Any]]) -> None:
    extras_path = (
        folder.child(EXTRAS_FILE) if folder else source.path.rsplit("/", 1)[0] + "/" + EXTRAS_FILE
    )
    if not source.fs.exists(extras_path):
        return
    with source.open_bytes(extras_path) as fh:
        try:
            extras = json.loads(fh.read().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImportFailure(f"{extras_path}: malformed ({exc})") from None
    by_name = {c["name"]: c for c in classes}
    for entry in extras.get("classes", []):
        target = by_name.get(entry.get("name"))
        if target is not None:
            target["description"] = str(entry.get("description") or "")
            target["examples"] = [str(e) for e in entry.get("examples") or []]


def _field(obj: dict[str, Any], key: str, kind: type, url: str, label: str = "") -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        raise ImportFailure(
            f"{url}: '{label or key}' is {'missing' if value is None else 'malformed'}; "
            "is this an Azure custom text classification project export?"
        )
    return value


def read_documents(
    project: AzureProject, options: Options
) -> Iterator[DocumentRecord | RecordError]:
    """The project's documents, their text read from the documents folder."""
    root = project.documents_root
    for i, entry in enumerate(project.documents):
        where = f"{project.url}: assets.documents[{i}]"
        try:
            yield _document(entry, root, where, options)
        except RecordError as err:
            yield err


def _document(entry: Any, root: Source, where: str, options: Options) -> DocumentRecord:
    if not isinstance(entry, dict) or not isinstance(entry.get("location"), str):
        raise RecordError(where, "has no text 'location'")
    location = check_name(entry["location"], where)
    where = f"{where} ({location})"
    path = root.contained_child(location)
    if path is None:
        raise RecordError(
            where,
            f"location {location[:100]!r} points outside the documents folder {root.url}; "
            "only files inside it are imported",
        )
    if not root.fs.exists(path):
        raise RecordError(
            where,
            f"file not found in {root.url}; give the folder that holds the documents",
        )
    with root.open_bytes(path) as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordError(
            where, f"not valid UTF-8 (byte {exc.start}); re-save it as UTF-8"
        ) from None
    try:
        dataset = parse_dataset(entry["dataset"], where) if entry.get("dataset") else None
    except LabelwiseError as exc:
        raise RecordError(where, str(exc)) from None
    if isinstance(entry.get("class"), dict):
        labels: tuple[str, ...] = (str(entry["class"].get("category")),)
    elif isinstance(entry.get("classes"), list):
        labels = tuple(str(c.get("category")) for c in entry["classes"] if isinstance(c, dict))
    else:
        labels = ()
    return DocumentRecord(
        location,
        check_text(text, where, options),
        where=where,
        language=check_language(entry.get("language"), where),
        dataset=dataset,
        labels=labels,
    )


# -- export --------------------------------------------------------------------------------------


def safe_location(name: str) -> str:
    """A document name usable as a relative file path, or a clear error."""
    parts = PurePosixPath(name).parts
    if (
        not parts
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(p in ("..", ".") for p in parts)
    ):
        raise LabelwiseError(
            f"document name {name!r} cannot be written as a file for the Azure export; "
            "export to CSV or JSONL instead"
        )
    return name


def write_project(
    out: Path,
    meta: dict[str, Any],
    classes: list[dict[str, Any]],
    documents: Iterator[dict[str, Any]],
) -> int:
    """Write the Azure project file, the documents and the class extras; returns documents."""
    docs_dir = out / DOCUMENTS_DIR
    docs_dir.mkdir(parents=True, exist_ok=True)
    kind = ProjectKind(meta["kind"])
    entries = []
    languages = set()
    files: set[str] = set()  # written files, and the folders they need (case folded)
    folders: set[str] = set()
    for doc in documents:
        location = safe_location(doc["name"])
        key = location.casefold()
        parents = {str(p).casefold() for p in PurePosixPath(location).parents if str(p) != "."}
        if key in folders or key in files or parents & files:
            raise LabelwiseError(
                f"document {location!r} cannot be written beside another document whose name "
                "is the same file or folder (e.g. 'a' and 'a/b', or names that differ only in "
                "case); export to CSV or JSONL instead"
            )
        files.add(key)
        folders.update(parents)
        target = docs_dir / location
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(doc["text"].encode("utf-8"))
        languages.add(doc["language"])
        entry: dict[str, Any] = {
            "location": location,
            "language": doc["language"],
            "dataset": "Test" if doc["dataset"] == Dataset.TEST else "Train",
        }
        if kind == ProjectKind.SINGLE_LABEL:
            if doc["labels"]:
                entry["class"] = {"category": doc["labels"][0]}
        else:
            entry["classes"] = [{"category": c} for c in doc["labels"]]
        entries.append(entry)
    azure_kind = AZURE_KINDS[kind]
    project = {
        "projectFileVersion": FILE_VERSION,
        "stringIndexType": "Utf16CodeUnit",
        "metadata": {
            "projectKind": azure_kind,
            "storageInputContainerName": DOCUMENTS_DIR,
            "projectName": meta["name"],
            "multilingual": len(languages) > 1 or bool(meta.get("multilingual")),
            "description": meta["description"],
            "language": meta["language"],
        },
        "assets": {
            "projectKind": azure_kind,
            "classes": [{"category": c["name"]} for c in classes],
            "documents": entries,
        },
    }
    (out / PROJECT_FILE).write_text(
        json.dumps(project, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / EXTRAS_FILE).write_text(
        json.dumps({"classes": classes}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return len(entries)
