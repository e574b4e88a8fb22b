"""Hostile files: each bad record is refused by file and line and its neighbours are stored, on
SQLite and PostgreSQL; nothing outside the documents folder is read; a failed import leaves
nothing behind; exports refuse collisions; tampered artifacts are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.domain import LabelwiseError, NotFound, ProjectKind
from labelwise.ingest.exporter import export_project
from labelwise.ingest.importer import run_import
from labelwise.ingest.records import ImportFailure, Options
from labelwise.processes import here
from labelwise.store import Store, trained
from labelwise.store.models import Job, TrainedModel
from labelwise.store.projects import get_project
from tests.helpers import make_project
from tests.test_import import azure_file, stored


def test_jsonl_bad_characters_lose_no_neighbour(store: Store, tmp_path: Path) -> None:
    """A lone surrogate, a NUL and an over-long language each refuse their own line only
    (before: the batch was lost, and on PostgreSQL the error printed other documents' text)."""
    make_project(store)
    lines = [
        json.dumps({"name": "ok-1", "text": "fine"}),
        '{"name": "sur", "text": "bad \\ud800 text"}',
        json.dumps({"name": "nul", "text": "a\x00b"}),
        json.dumps({"name": "lang", "text": "x", "language": "l" * 21}),
        json.dumps({"name": "name\x00", "text": "x"}),
        json.dumps({"name": "ok-2", "text": "also fine", "language": "en-us"}),
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_import(store, "p", str(path))
    assert sorted(stored(store)) == ["ok-1", "ok-2"]
    by_line = {e["where"]: e["reason"] for e in report.errors}
    assert set(by_line) == {f"{path}:{n}" for n in (2, 3, 4, 5)}
    assert "not valid UTF-8" in by_line[f"{path}:2"]
    assert "NUL" in by_line[f"{path}:3"]
    assert "language" in by_line[f"{path}:4"]
    assert "fine" not in json.dumps(report.errors)  # no other record's text in any error


def test_json_depth_and_huge_numbers_are_record_errors(store: Store, tmp_path: Path) -> None:
    make_project(store)
    deep = "[" * 100_000 + "]" * 100_000
    lines = [
        json.dumps({"name": "a", "text": "one"}),
        '{"name": "deep", "text": "x", "extra": ' + deep + "}",
        '{"name": "big", "text": "x", "n": ' + "9" * 5000 + "}",
        json.dumps({"name": "b", "text": "two"}),
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_import(store, "p", str(path))
    assert sorted(stored(store)) == ["a", "b"]
    reasons = {e["where"]: e["reason"] for e in report.errors}
    assert "nested too deeply" in reasons[f"{path}:2"]
    assert "5000 digits" in reasons[f"{path}:3"]


def test_unterminated_csv_quote_is_refused_naming_its_line(store: Store, tmp_path: Path) -> None:
    """Before: the rest of the file became one document and the import said nothing."""
    make_project(store)
    path = tmp_path / "d.csv"
    path.write_text('name,text\n1,one\n2,"two\n3,three\n4,four\n', encoding="utf-8")
    report = run_import(store, "p", str(path))
    assert sorted(stored(store)) == ["1"]
    assert report.errors[0]["where"] == f"{path}:3"
    assert "never closed" in report.errors[0]["reason"]


def test_csv_stray_quote_refuses_its_row_and_goes_on(store: Store, tmp_path: Path) -> None:
    make_project(store)
    path = tmp_path / "d.csv"
    path.write_text('name,text\n1,one\n2,"two"x\n3,three\n', encoding="utf-8")
    report = run_import(store, "p", str(path))
    assert sorted(stored(store)) == ["1", "3"]
    assert [e["where"] for e in report.errors] == [f"{path}:3"]


def test_azure_location_cannot_leave_the_documents_folder(store: Store, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    os.symlink(secret, tmp_path / "docs" / "link.txt")
    docs: list[dict[str, object]] = [
        {"location": "one.txt", "language": "en"},
        {"location": "../secret.txt", "language": "en"},
        {"location": "../../../../../../etc/passwd", "language": "en"},
        {"location": str(secret), "language": "en"},
        {"location": "link.txt", "language": "en"},
    ]
    path = azure_file(tmp_path, docs=docs)
    report = run_import(store, "az", str(path), options=Options(documents=str(tmp_path / "docs")))
    assert list(stored(store, "az")) == ["one.txt"]
    assert len(report.errors) == 4
    assert all("outside the documents folder" in e["reason"] for e in report.errors)
    assert "root:x" not in json.dumps(report.to_dict())


def test_a_failed_azure_import_leaves_no_project(store: Store, tmp_path: Path) -> None:
    docs: list[dict[str, object]] = [{"location": "../nope.txt"}, {"location": "missing.txt"}]
    path = azure_file(tmp_path, docs=docs)
    with pytest.raises(ImportFailure, match="was not created"):
        run_import(store, "az", str(path), options=Options(documents=str(tmp_path / "docs")))
    with store.session() as s, pytest.raises(NotFound):
        get_project(s, "az")
    path.write_text('{"projectFileVersion": "2022-05-01", "assets": ' + "[" * 50_000, "utf-8")
    with pytest.raises(ImportFailure):
        run_import(store, "az", str(path))
    with store.session() as s, pytest.raises(NotFound):
        get_project(s, "az")


def test_export_refuses_colliding_names_and_unwritable_targets(
    store: Store, tmp_path: Path
) -> None:
    make_project(store, docs={"a": "first", "a/b": "second"})
    with pytest.raises(LabelwiseError, match="'a/b' cannot be written beside"):
        export_project(store, "p", tmp_path / "out", "azure")


def test_cli_export_to_unwritable_places_is_one_line(
    cli_env: str, runner: CliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["project", "create", "p"]).exit_code == 0
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    for fmt, target in (("csv", blocker / "out.csv"), ("azure", blocker / "dir")):
        result = runner.invoke(app, ["export", "p", str(target), "--format", fmt])
        assert result.exit_code == 1, (fmt, result.output)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.output
        assert str(blocker) in result.stderr


def test_document_text_cannot_drive_the_terminal(
    cli_env: str, runner: CliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["project", "create", "p"]).exit_code == 0
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"name": "x", "text": "hi \x1b[2J\x1b]0;pwned\x07 :x: bye"}) + "\n")
    assert runner.invoke(app, ["import", "p", str(path)]).exit_code == 0
    result = runner.invoke(app, ["doc", "p", "x"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert ":x:" in result.stdout and "hi" in result.stdout and "bye" in result.stdout


def _tamper(store: Store, change: dict[str, np.ndarray]) -> None:
    """Replace arrays of model m1 and recompute its SHA-256, as an attacker with write access
    to the database could."""
    import hashlib
    import io

    with store.session() as s:
        row = s.scalar(select(TrainedModel).where(TrainedModel.name == "m1"))
        assert row is not None and row.arrays is not None
        with np.load(io.BytesIO(row.arrays), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays.update(change)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        row.arrays = buf.getvalue()
        row.config = {
            **row.config,
            "sha256": hashlib.sha256(row.arrays).hexdigest(),
            "arrays": sorted(arrays),
        }


@pytest.mark.parametrize(
    "change",
    [
        {"coef": np.full((4, 7), 1.0)},  # wrong width for the encoder
        {"coef": np.full((2, 2, 2), 1.0)},  # wrong rank
        {"intercept": np.array([np.nan, 0, 0, 0])},  # NaN scores
        {"intercept": np.array([0.0])},  # does not fit the labels
        {"thresholds": np.array([0.5])},
    ],
    ids=["width", "rank", "nan", "intercept", "thresholds"],
)
def test_tampered_artifacts_are_refused(store: Store, change: dict[str, np.ndarray]) -> None:
    from labelwise.training.predict import predict
    from labelwise.training.train import TrainOptions, train_model
    from tests.test_training import build

    build(store)
    train_model(store, "p", "m1", TrainOptions(manual_split=True))
    _tamper(store, change)
    with pytest.raises(LabelwiseError, match="model"):
        predict(store, "p", ["Rain all day."], model="m1")


def test_a_training_whose_process_died_reads_failed_and_frees_its_name(store: Store) -> None:
    make_project(store)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    host, _ = here()
    with store.session() as s:
        p = get_project(s, "p")
        s.add(
            TrainedModel(
                project_id=p.id,
                name="v1",
                algorithm="embedding-logreg",
                status="training",
                config={"host": host, "pid": int(dead.stdout)},
            )
        )
    with store.session() as s:
        p = get_project(s, "p")
        [m] = trained.list_models(s, p)
        assert m.status == "failed" and "died" in (m.error or "")
    with store.session() as s:  # the name is free again
        p = get_project(s, "p")
        row = trained.start_training(s, p, "v1", "embedding-logreg")
        assert row.status == "training"


def test_a_job_that_keeps_killing_its_process_fails(store: Store) -> None:
    """Two crashes (e.g. out of memory), and the job is failed with the reason instead of
    being resumed by every worker that starts, in a loop."""
    from labelwise.jobs import runner
    from labelwise.jobs.worker import release_dead_local
    from labelwise.store import jobs as svc
    from labelwise.store.models import JobItem

    make_project(store, docs={"d1": "one", "d2": "two"}, kind=ProjectKind.SINGLE_LABEL)

    job_id = runner.create(store, "p", "embedding")
    host, _ = here()
    for crash in (1, 2):
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            text=True,
            capture_output=True,
            check=True,
        )
        with store.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            job.status = "running"
            items = s.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
            for item in items:
                item.claimed_by = f"{host}:{int(dead.stdout)}:x"
        assert release_dead_local(store) == 2
        with store.session() as s:
            job = svc.get_job(s, job_id)
            assert job.crashes == crash
            assert job.status == ("running" if crash == 1 else "failed")
    with store.session() as s:
        job = svc.get_job(s, job_id)
        assert "died 2 times" in job.reason and f"job resume {job_id}" in job.reason
        assert job_id not in svc.jobs_with_work(s, 60)
