"""Importers: each format, and each kind of bad input, against a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from labelwise.domain import Conflict, LabelwiseError, NotFound, ProjectKind
from labelwise.embeddings.registry import ENGLISH
from labelwise.ingest.importer import ImportReport, run_import
from labelwise.ingest.records import ImportFailure, Options
from labelwise.store import Store
from labelwise.store.documents import labels_by_document
from labelwise.store.projects import get_project
from labelwise.store.query import DocumentQuery
from tests.helpers import make_project


def stored(store: Store, project: str = "p") -> dict[str, tuple[str, list[str], str]]:
    """name -> (text, labels, dataset) of every stored document."""
    with store.session() as s:
        docs = DocumentQuery().documents(s, get_project(s, project), limit=None)
        labels = labels_by_document(s, [d.id for d in docs])
        return {d.name: (d.text, labels[d.id], d.dataset) for d in docs}


def reasons(report: ImportReport) -> list[str]:
    return [f"{e['where'].rsplit('/', 1)[-1]} {e['reason']}" for e in report.errors]


def test_folder_of_txt_files_recursive(store: Store, tmp_path: Path) -> None:
    make_project(store)
    (tmp_path / "in/sub").mkdir(parents=True)
    (tmp_path / "in/a.txt").write_text("first doc", encoding="utf-8")
    (tmp_path / "in/sub/b.txt").write_text("\ufeffsecond doc\nline 2", encoding="utf-8")
    (tmp_path / "in/notes.md").write_text("ignored", encoding="utf-8")
    report = run_import(store, "p", str(tmp_path / "in"))
    assert (report.format, report.inserted, report.errors) == ("folder", 2, [])
    assert stored(store) == {
        "a.txt": ("first doc", [], "train"),
        "sub/b.txt": ("second doc\nline 2", [], "train"),
    }


def test_folder_bad_files_are_listed_and_good_ones_imported(store: Store, tmp_path: Path) -> None:
    make_project(store)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("fine", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    (folder / "huge.txt").write_text("x" * 128_001, encoding="utf-8")
    report = run_import(store, "p", str(folder))
    assert report.inserted == 1
    got = reasons(report)
    assert any(r.startswith("empty.txt document is empty") for r in got)
    assert any(
        r.startswith("huge.txt document has 128,001 characters") and "truncation" in r for r in got
    )
    assert any(r.startswith("latin1.txt not valid UTF-8 (byte 3)") for r in got)
    assert list(stored(store)) == ["good.txt"]


def test_truncate_keeps_the_first_128000_characters(store: Store, tmp_path: Path) -> None:
    make_project(store)
    (tmp_path / "in").mkdir()
    (tmp_path / "in/huge.txt").write_text("y" * 130_000, encoding="utf-8")
    report = run_import(store, "p", str(tmp_path / "in"), options=Options(truncate=True))
    assert report.inserted == 1 and report.errors == []
    assert any("truncated from 130,000" in w for w in report.warnings)
    assert len(stored(store)["huge.txt"][0]) == 128_000


def test_csv_with_labels_datasets_and_multiline_text(store: Store, tmp_path: Path) -> None:
    make_project(store, kind=ProjectKind.MULTI_LABEL)
    path = tmp_path / "rows.csv"
    path.write_text(
        'id,body,tags,dataset\n1,"hello, world",a,train\n2,"two\nlines","a;b",Test\n3,plain,,\n',
        encoding="utf-8",
    )
    report = run_import(
        store,
        "p",
        str(path),
        options=Options(text_column="body", label_column="tags", label_separator=";"),
    )
    assert (report.format, report.inserted, report.errors) == ("csv", 3, [])
    assert stored(store) == {
        "1": ("hello, world", ["a"], "train"),
        "2": ("two\nlines", ["a", "b"], "test"),
        "3": ("plain", [], "train"),
    }


def test_csv_bad_rows_name_their_line(store: Store, tmp_path: Path) -> None:
    make_project(store)
    path = tmp_path / "rows.csv"
    path.write_bytes(
        b"name,text,labels\n"
        b"ok,good text,a\n"
        b"bad,caf\xe9,a\n"
        b"empty,,a\n"
        b"unknown,some text,zzz\n"
        b"short\n"
        b'two,two labels,"a,b"\n'
        b"ok2,more text,\n"
    )
    report = run_import(store, "p", str(path))
    assert report.inserted == 2
    got = sorted(reasons(report))
    assert got[0].startswith("rows.csv:3 text is not valid UTF-8")
    assert got[1].startswith("rows.csv:4 document is empty")
    assert got[2].startswith("rows.csv:5 label 'zzz' is not a class")
    assert "class creation" in got[2]
    assert got[3].startswith("rows.csv:6 1 fields where the header has 3")
    assert got[4].startswith("rows.csv:7 2 labels (a, b) in a single-label project")
    assert stored(store) == {"ok": ("good text", ["a"], "train"), "ok2": ("more text", [], "train")}


def test_csv_unknown_column_fails_before_storing_anything(store: Store, tmp_path: Path) -> None:
    make_project(store)
    path = tmp_path / "rows.csv"
    path.write_text("name,body\nx,hello\n", encoding="utf-8")
    with pytest.raises(ImportFailure, match="no 'text' column; the columns are: name, body"):
        run_import(store, "p", str(path))
    with pytest.raises(ImportFailure, match=r"no column 'txt' for the text.*name the text column"):
        run_import(store, "p", str(path), options=Options(text_column="txt"))
    with pytest.raises(ImportFailure, match="no column 'cat' for the labels"):
        run_import(store, "p", str(path), options=Options(text_column="body", label_column="cat"))
    assert stored(store) == {}


def test_create_classes_from_labels(store: Store, tmp_path: Path) -> None:
    make_project(store, classes=())
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"text": "t1", "label": "billing"}\n{"text": "t2", "label": "bad/name"}\n'
        '{"text": "t3", "label": "billing"}\n',
        encoding="utf-8",
    )
    report = run_import(
        store, "p", str(path), create_classes=True, options=Options(label_column="label")
    )
    assert report.classes_created == ["billing"]
    assert report.inserted == 2
    assert "may not contain" in report.errors[0]["reason"]
    assert stored(store) == {
        "rows-1": ("t1", ["billing"], "train"),
        "rows-3": ("t3", ["billing"], "train"),
    }


def test_jsonl_bad_lines(store: Store, tmp_path: Path) -> None:
    make_project(store)
    path = tmp_path / "docs.jsonl"
    path.write_bytes(
        b'{"name": "n1", "text": "good", "labels": ["a"]}\n'
        b'{"name": "n2", "text": "broken\n'
        b"[1, 2]\n"
        b'{"name": "n4", "text": "caf\xe9"}\n'
        b'{"name": "n5", "text": 42}\n'
        b"\n"
        b'{"name": "n7", "text": "fine too"}\n'
    )
    report = run_import(store, "p", str(path))
    got = reasons(report)
    assert got[0].startswith("docs.jsonl:2 malformed JSON at column")
    assert got[1].startswith("docs.jsonl:3 each line must be a JSON object")
    assert got[2].startswith("docs.jsonl:4 not valid UTF-8")
    assert got[3].startswith("docs.jsonl:5 'text' is not text")
    assert stored(store) == {"n1": ("good", ["a"], "train"), "n7": ("fine too", [], "train")}


def test_reimport_skips_duplicates_unless_replace(store: Store, tmp_path: Path) -> None:
    make_project(store)
    path = tmp_path / "d.csv"
    path.write_text("name,text\nx,first\ny,second\n", encoding="utf-8")
    run_import(store, "p", str(path))
    path.write_text("name,text\nx,changed\nz,third\n", encoding="utf-8")
    report = run_import(store, "p", str(path))
    assert (report.inserted, report.duplicates, report.duplicate_names) == (1, 1, ["x"])
    assert stored(store)["x"][0] == "first"
    report = run_import(store, "p", str(path), replace=True)
    assert (report.inserted, report.replaced, report.unchanged) == (0, 1, 1)
    assert stored(store)["x"][0] == "changed"


def test_a_record_the_database_refuses_loses_no_neighbour(store: Store, tmp_path: Path) -> None:
    """A batch the database refuses is written again record by record: only the refused record
    is reported, by line, and the rest of its batch is stored."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("the failure is injected with an SQLite trigger")
    make_project(store)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER boom BEFORE INSERT ON documents "
                "WHEN NEW.text = 'explode' BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        )
    path = tmp_path / "d.csv"
    path.write_text("name,text\n1,one\n2,two\n3,three\n4,explode\n5,five\n", encoding="utf-8")
    report = run_import(store, "p", str(path), batch_size=2)
    assert sorted(stored(store)) == ["1", "2", "3", "5"]
    assert [e["where"] for e in report.errors] == [f"{path}:5"]
    assert "database refused it (boom)" in report.errors[0]["reason"]
    assert "INSERT" not in report.errors[0]["reason"]


def test_import_needs_an_existing_project(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(NotFound, match="no project named 'ghost'"):
        run_import(store, "ghost", str(path))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.json", '{"a": 1}', "not an Azure project export"),
        ("x.xlsx", "zz", "cannot tell the format"),
        ("missing.csv", None, "no such file or folder"),
        ("empty.csv", "", "the file is empty"),
    ],
)
def test_unusable_inputs(
    store: Store, tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    make_project(store)
    if content is not None:
        (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(ImportFailure, match=message):
        run_import(store, "p", str(tmp_path / name))


def test_fsspec_urls(store: Store, tmp_path: Path) -> None:
    import fsspec

    make_project(store)
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.txt").write_text("local file", encoding="utf-8")
    report = run_import(store, "p", f"file://{tmp_path / 'in'}")
    assert report.inserted == 1
    mem = fsspec.filesystem("memory")
    mem.pipe("/bucket/docs.jsonl", b'{"name": "m1", "text": "from memory"}\n')
    report = run_import(store, "p", "memory://bucket/docs.jsonl")
    assert report.inserted == 1
    assert stored(store)["m1"][0] == "from memory"
    with pytest.raises(ImportFailure, match=r"pip install 'labelwise\[s3\]'|no such file"):
        run_import(store, "p", "s3://some-bucket/docs.csv")


def azure_file(
    tmp_path: Path,
    kind: str = "CustomSingleLabelClassification",
    docs: list[dict[str, object]] | None = None,
) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs/one.txt").write_text("first text", encoding="utf-8")
    (tmp_path / "docs/two.txt").write_text("second text", encoding="utf-8")
    default = [
        {
            "location": "one.txt",
            "language": "en-us",
            "dataset": "Train",
            "class": {"category": "Billing"},
        },
        {"location": "two.txt", "language": "en-us", "dataset": "Test"},
    ]
    data = {
        "projectFileVersion": "2022-05-01",
        "stringIndexType": "Utf16CodeUnit",
        "metadata": {
            "projectKind": kind,
            "projectName": "x",
            "language": "en-us",
            "description": "from azure",
            "multilingual": False,
            "storageInputContainerName": "c",
        },
        "assets": {
            "projectKind": kind,
            "classes": [{"category": "Billing"}, {"category": "Support"}],
            "documents": docs if docs is not None else default,
        },
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_azure_import_creates_the_project(store: Store, tmp_path: Path) -> None:
    path = azure_file(tmp_path)
    report = run_import(store, "az", str(path), options=Options(documents=str(tmp_path / "docs")))
    assert (report.format, report.inserted, report.errors) == ("azure", 2, [])
    assert report.classes_created == ["Billing", "Support"]
    with store.session() as s:
        p = get_project(s, "az")
        assert (p.kind, p.language, p.description) == ("single_label", "en-us", "from azure")
        assert p.encoder == ENGLISH
    assert stored(store, "az") == {
        "one.txt": ("first text", ["Billing"], "train"),
        "two.txt": ("second text", [], "test"),
    }


def test_azure_multilingual_flag_chooses_the_multilingual_encoder_both_ways(
    store: Store, tmp_path: Path
) -> None:
    from labelwise.ingest.exporter import export_project

    path = azure_file(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metadata"]["multilingual"] = True
    path.write_text(json.dumps(data), encoding="utf-8")
    run_import(store, "multi", str(path), options=Options(documents=str(tmp_path / "docs")))
    with store.session() as s:
        assert get_project(s, "multi").encoder == "e5-multilingual"
    out = tmp_path / "out"
    export_project(store, "multi", out, "azure")
    exported = json.loads((out / "project.json").read_text(encoding="utf-8"))
    assert exported["metadata"]["multilingual"] is True


def test_azure_bad_documents_and_files(store: Store, tmp_path: Path) -> None:
    path = azure_file(
        tmp_path,
        "CustomMultiLabelClassification",
        docs=[
            {"location": "one.txt", "dataset": "Train", "classes": [{"category": "Billing"}]},
            {"location": "absent.txt"},
            {"dataset": "Train"},
            {"location": "two.txt", "classes": [{"category": "Nope"}]},
            {"location": "two.txt", "dataset": "Validation"},
        ],
    )
    report = run_import(store, "az", str(path), options=Options(documents=str(tmp_path / "docs")))
    got = [f"{e['where'].split(': ', 1)[1]} | {e['reason']}" for e in report.errors]
    assert got[0].startswith("assets.documents[1] (absent.txt) | file not found")
    assert got[1].startswith("assets.documents[2] | has no text 'location'")
    assert got[2].startswith("assets.documents[4] (two.txt) | dataset 'Validation'")
    assert got[3].startswith("assets.documents[3] (two.txt) | label 'Nope' is not a class")
    assert report.inserted == 1


def test_azure_malformed_json_names_line_and_column(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"projectFileVersion": "2022-05-01",\n "metadata": {,}}', encoding="utf-8")
    with pytest.raises(ImportFailure, match=r"broken.json: malformed JSON at line 2, column 15"):
        run_import(store, "az", str(path))
    path.write_text('{"projectFileVersion": "2022-05-01", "metadata": {}}', encoding="utf-8")
    with pytest.raises(ImportFailure, match="'assets' is missing"):
        run_import(store, "az", str(path))


def test_azure_kind_must_match_an_existing_project(store: Store, tmp_path: Path) -> None:
    make_project(store, "az", kind=ProjectKind.MULTI_LABEL)
    with pytest.raises(Conflict, match="is a single_label project but 'az' is multi_label"):
        run_import(store, "az", str(azure_file(tmp_path)))


def test_library_errors_are_labelwise_errors() -> None:
    assert issubclass(ImportFailure, LabelwiseError)


def test_csv_label_column_semicolons_and_ignored_columns(store: Store, tmp_path: Path) -> None:
    """A column called `label` is found without asking; a `;` file (spreadsheets in many
    locales) is read as such; unused columns are reported."""
    make_project(store)
    path = tmp_path / "d.csv"
    path.write_text("name;text;label;extra\nx;hello, world;a;1\ny;bye;b;2\n", encoding="utf-8")
    report = run_import(store, "p", str(path))
    assert report.errors == []
    assert stored(store) == {"x": ("hello, world", ["a"], "train"), "y": ("bye", ["b"], "train")}
    assert any("labels from 'label'" in w and "ignored: 'extra'" in w for w in report.warnings)
