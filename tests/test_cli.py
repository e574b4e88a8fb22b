"""The CLI: every command's --help, and the user's path through real commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.cli.common import get_store
from labelwise.demo import create_demo_project


def all_commands() -> list[list[str]]:
    """Every command path of the app, walking groups."""
    paths: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


COMMANDS = all_commands()


def test_the_command_tree_is_complete() -> None:
    names = {" ".join(p) for p in COMMANDS}
    expected = {
        "project create",
        "project list",
        "project show",
        "project delete",
        "class add",
        "class list",
        "class rename",
        "class describe",
        "class remove",
        "import",
        "export",
        "docs",
        "doc",
        "label",
        "unlabel",
        "dataset",
        "suggestions",
        "accept",
        "reject",
        "demo",
        "db upgrade",
        "db current",
        "autolabel",
        "jobs",
        "job show",
        "job cancel",
        "job resume",
        "worker",
        "serve",
        "train",
        "evaluate",
        "deploy",
        "predict",
    }
    assert expected <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "labelwise")
def test_help(runner: CliRunner, path: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    # plain Click metavars at 80 columns: no <str> / <bool> / {project} tags, no " ." gaps
    assert not re.search(r"<(str|bool|int|float)[^>]*>|\{[a-z_]+\}| \.$", result.output, re.M), (
        result.output
    )


def test_console_script_runs(tmp_path: Path) -> None:
    """The installed entry point imports and answers (catches a script pointing nowhere)."""
    exe = Path(sys.executable).with_name("labelwise")
    result = subprocess.run(
        [str(exe), "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LABELWISE_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "import" in result.stdout and "demo" in result.stdout


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def test_user_path(runner: CliRunner, cli_env: str, tmp_path: Path) -> None:
    run(runner, "project", "create", "tickets", "--kind", "multi_label", "--description", "d")
    run(runner, "class", "add", "tickets", "billing", "login", "--description", "shared")
    err = run(runner, "class", "add", "tickets", "a/b", code=1)
    assert "error:" in err and "may not contain" in err
    data = tmp_path / "t.csv"
    data.write_text(
        "name,text,labels\nt1,card charged twice,billing\nt2,cannot sign in,\nt3,,billing\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["import", "tickets", str(data), "--json"])
    assert result.exit_code == 1  # one refused row
    report = json.loads(result.stdout)
    assert report["inserted"] == 2 and report["errors"][0]["where"].endswith("t.csv:4")
    run(runner, "label", "tickets", "t2", "login")
    run(runner, "label", "tickets", "t2", "billing", "--add")
    docs = json.loads(run(runner, "docs", "tickets", "--filter", "labeled", "--json"))["documents"]
    assert {d["name"]: d["labels"] for d in docs} == {"t1": ["billing"], "t2": ["billing", "login"]}
    run(runner, "unlabel", "tickets", "t2", "billing")
    run(runner, "dataset", "tickets", "test", "t2")
    shown = json.loads(run(runner, "doc", "tickets", "t2", "--json"))
    assert (shown["labels"], shown["dataset"]) == (["login"], "test")
    summary = json.loads(run(runner, "project", "show", "tickets", "--json"))
    assert (summary["documents"], summary["labeled"], summary["test"]) == (2, 2, 1)
    assert summary["classes"]["billing"]["labels"] == 1
    listed = json.loads(run(runner, "project", "list", "--json"))
    assert [p["name"] for p in listed] == ["tickets"]
    classes = json.loads(run(runner, "class", "list", "tickets", "--json"))
    assert [c["name"] for c in classes] == ["billing", "login"]
    run(runner, "class", "rename", "tickets", "login", "sign-in")
    described = json.loads(
        run(
            runner,
            "class",
            "describe",
            "tickets",
            "sign-in",
            "--description",
            "Access problems",
            "-e",
            "cannot log in",
            "--json",
        )
    )
    assert described == {
        "name": "sign-in",
        "description": "Access problems",
        "examples": ["cannot log in"],
        "labels": 1,
        "suggestions": 0,
    }
    out_dir = tmp_path / "export"
    run(runner, "export", "tickets", str(out_dir), "--format", "azure")
    run(runner, "import", "copy", str(out_dir))
    copied = json.loads(run(runner, "docs", "copy", "--json"))["documents"]
    assert {d["name"]: d["labels"] for d in copied} == {"t1": ["billing"], "t2": ["sign-in"]}
    err = run(runner, "class", "remove", "tickets", "billing", code=1)
    assert "--yes" in err  # not at a terminal: refuses to guess
    run(runner, "class", "remove", "tickets", "billing", "--yes")
    err = run(runner, "project", "show", "nope", code=3)
    assert "no project named 'nope'" in err
    run(runner, "project", "delete", "tickets", "--yes")
    assert [p["name"] for p in json.loads(run(runner, "project", "list", "--json"))] == ["copy"]


def test_single_label_refuses_two_classes(runner: CliRunner, cli_env: str, tmp_path: Path) -> None:
    run(runner, "project", "create", "s")
    run(runner, "class", "add", "s", "x", "y")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/one.txt").write_text("hello", encoding="utf-8")
    run(runner, "import", "s", str(tmp_path / "docs"))
    err = run(runner, "label", "s", "one.txt", "x", "y", code=1)
    assert "single-label" in err


def test_review_commands(runner: CliRunner, cli_env: str) -> None:
    from labelwise.store import labels as rules
    from labelwise.store.documents import get_document
    from labelwise.store.projects import get_project

    create_demo_project(get_store(), "demo")
    with get_store().session() as s:
        p = get_project(s, "demo")
        unlabeled = json.loads(
            run(runner, "docs", "demo", "--filter", "unlabeled", "--limit", "2", "--json")
        )["documents"]
        ids = [get_document(s, p, d["name"]).id for d in unlabeled]
        rules.add_suggestions(
            s,
            p,
            [
                rules.NewSuggestion(ids[0], "age_limit", 0.9, "test"),
                rules.NewSuggestion(ids[1], "pin_blocked", 0.4, "test"),
            ],
        )
    listed = json.loads(run(runner, "suggestions", "demo", "--json"))
    assert [(x["class"], x["confidence"]) for x in listed] == [
        ("age_limit", 0.9),
        ("pin_blocked", 0.4),
    ]
    auto = json.loads(run(runner, "docs", "demo", "--filter", "auto-labeled", "--json"))[
        "documents"
    ]
    assert len(auto) == 2
    run(runner, "accept", "demo", str(listed[0]["id"]))
    run(runner, "reject", "demo", str(listed[1]["id"]))
    err = run(runner, "accept", "demo", str(listed[1]["id"]), code=1)
    assert "already rejected" in err
    assert json.loads(run(runner, "suggestions", "demo", "--json")) == []
    doc = json.loads(run(runner, "doc", "demo", unlabeled[0]["name"], "--json"))
    assert doc["labels"] == ["age_limit"] and doc["suggestions"] == []
    with get_store().session() as s:
        p = get_project(s, "demo")
        rules.add_suggestions(s, p, [rules.NewSuggestion(ids[1], "age_limit", 0.3, "test")])
    doc = json.loads(run(runner, "doc", "demo", unlabeled[1]["name"], "--json"))
    assert [(x["class"], x["confidence"]) for x in doc["suggestions"]] == [("age_limit", 0.3)]


def test_demo_runs_the_whole_loop(runner: CliRunner, cli_env: str) -> None:
    out = run(runner, "demo")
    assert "1. imported 400 documents" in out and "5. deployed it as 'production'" in out
    again = json.loads(run(runner, "demo", "--json"))  # re-running replaces the demo project
    assert again["summary"]["documents"] == 400 and again["import"]["errors"] == []
    assert again["job"]["done"] == 220 and again["suggestion_accuracy"] > 0.9
    assert again["accepted"] > 150
    assert again["train"]["evaluation"]["accuracy"] > 0.9  # measured 0.99
    assert [p["class"][0]["category"] for p in again["predictions"]] == [
        "lost_or_stolen_card",
        "age_limit",
    ]
    models = json.loads(run(runner, "models", "demo-banking77", "--json"))
    assert [m["status"] for m in models] == ["ready"]


def test_db_commands(runner: CliRunner, cli_env: str) -> None:
    run(runner, "db", "upgrade")
    revs = json.loads(run(runner, "db", "current", "--json"))
    assert revs["current"] == revs["head"] is not None
