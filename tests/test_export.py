"""Exports: Azure's format round-trips through import with nothing lost; CSV / JSONL too."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from labelwise.domain import Dataset, LabelwiseError, ProjectKind
from labelwise.ingest.exporter import export_project
from labelwise.ingest.importer import run_import
from labelwise.ingest.records import Options
from labelwise.store import Store
from labelwise.store import labels as rules
from labelwise.store.classes import describe_class, list_classes
from labelwise.store.documents import get_document, set_dataset
from labelwise.store.projects import get_project
from tests.helpers import make_project
from tests.test_import import stored

TEXTS = {
    "plain.txt": "A plain document.",
    "sub/nested.txt": 'Nested, with "quotes", commas\r\nand CRLF line breaks.\n',
    "unicode": "Grüße — 日本語 — emoji 🎉 and a trailing space ",
    "markup": "<script>alert('x')</script> & [bold]not markup[/]",
}


def build(store: Store, kind: ProjectKind) -> None:
    make_project(store, "src", kind=kind, classes=("billing", "support", "other, misc"), docs=TEXTS)
    with store.session() as s:
        p = get_project(s, "src")
        describe_class(s, p, "billing", "Money", ["I was charged twice"])
        c = {x.name: x for x in p.classes}
        doc = {n: get_document(s, p, n) for n in TEXTS}
        rules.set_labels(s, p, doc["plain.txt"], [c["billing"]])
        rules.set_labels(s, p, doc["unicode"], [c["other, misc"]])
        if kind == ProjectKind.MULTI_LABEL:
            rules.set_labels(s, p, doc["sub/nested.txt"], [c["billing"], c["support"]])
        set_dataset(s, p, ["unicode", "markup"], Dataset.TEST)
        rules.add_suggestions(
            s, p, [rules.NewSuggestion(doc["markup"].id, "support", 0.625, "llm")]
        )


def project_state(store: Store, name: str) -> tuple[object, ...]:
    with store.session() as s:
        p = get_project(s, name)
        classes = [(c.name, c.description, c.examples) for c in list_classes(s, p)]
        langs = sorted({get_document(s, p, n).language for n in TEXTS})
        return p.kind, p.language, p.description, classes, langs, stored(store, name)


@pytest.mark.parametrize("kind", list(ProjectKind))
def test_azure_round_trip(store: Store, tmp_path: Path, kind: ProjectKind) -> None:
    build(store, kind)
    n = export_project(store, "src", tmp_path / "out", "azure")
    assert n == len(TEXTS)
    data = json.loads((tmp_path / "out/project.json").read_text(encoding="utf-8"))
    assert data["projectFileVersion"] == "2022-05-01"
    expected_kind = {
        ProjectKind.SINGLE_LABEL: "CustomSingleLabelClassification",
        ProjectKind.MULTI_LABEL: "CustomMultiLabelClassification",
    }[kind]
    assert data["assets"]["projectKind"] == expected_kind
    entry = next(d for d in data["assets"]["documents"] if d["location"] == "plain.txt")
    if kind == ProjectKind.SINGLE_LABEL:
        assert entry["class"] == {"category": "billing"}
    else:
        assert entry["classes"] == [{"category": "billing"}]
    assert (tmp_path / "out/documents/sub/nested.txt").read_bytes() == TEXTS[
        "sub/nested.txt"
    ].encode()
    report = run_import(store, "copy", str(tmp_path / "out"))
    assert report.errors == [] and report.inserted == len(TEXTS)
    assert project_state(store, "copy") == project_state(store, "src")
    # the project file alone (documents/ found beside it) works as well
    report = run_import(store, "copy2", str(tmp_path / "out/project.json"))
    assert project_state(store, "copy2") == project_state(store, "src")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_tabular_round_trip(store: Store, tmp_path: Path, fmt: str) -> None:
    build(store, ProjectKind.MULTI_LABEL)
    out = tmp_path / f"out.{fmt}"
    export_project(store, "src", out, fmt, label_separator="|")
    make_project(store, "copy", kind=ProjectKind.MULTI_LABEL, classes=())
    report = run_import(
        store, "copy", str(out), create_classes=True, options=Options(label_separator="|")
    )
    assert report.errors == []
    assert stored(store, "copy") == stored(store, "src")


def test_exports_carry_pending_suggestions_on_request(store: Store, tmp_path: Path) -> None:
    build(store, ProjectKind.SINGLE_LABEL)
    export_project(store, "src", tmp_path / "s.jsonl", "jsonl", include_suggestions=True)
    rows = {r["name"]: r for r in map(json.loads, (tmp_path / "s.jsonl").open(encoding="utf-8"))}
    assert rows["markup"]["suggestions"] == [{"class": "support", "confidence": 0.625}]
    assert rows["plain.txt"]["labels"] == ["billing"]
    export_project(
        store, "src", tmp_path / "s.csv", "csv", include_suggestions=True, label_separator="|"
    )
    with (tmp_path / "s.csv").open(encoding="utf-8", newline="") as fh:
        by_name = {r["name"]: r for r in csv.DictReader(fh)}
    assert by_name["markup"]["suggestions"] == "support:0.6250"
    assert by_name["sub/nested.txt"]["text"] == TEXTS["sub/nested.txt"]
    export_project(store, "src", tmp_path / "plain.jsonl", "jsonl")
    first = json.loads((tmp_path / "plain.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert "suggestions" not in first


def test_csv_export_refuses_a_separator_inside_class_names(store: Store, tmp_path: Path) -> None:
    build(store, ProjectKind.SINGLE_LABEL)
    with pytest.raises(LabelwiseError, match="contains the label separator ','"):
        export_project(store, "src", tmp_path / "x.csv", "csv")


def test_azure_export_refuses_unsafe_names(store: Store, tmp_path: Path) -> None:
    make_project(store, "bad", docs={"../escape.txt": "nope"})
    with pytest.raises(LabelwiseError, match="cannot be written as a file"):
        export_project(store, "bad", tmp_path / "out", "azure")
    assert not (tmp_path / "escape.txt").exists()
