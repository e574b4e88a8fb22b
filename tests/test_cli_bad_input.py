"""Every CLI command given bad input ends with one ``error:`` line that says what to do, a
non-zero exit status by the README's rule (1, or 3 when something named does not exist, 2 for
usage errors), and never a Python traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelwise.cli import app

# {d}: a folder that exists; {f}: a file that exists; {bad}: a file of invalid JSON / CSV;
# {ro}: a path below a regular file (cannot be written); {missing}: a path that does not exist
CASES: list[tuple[str, int]] = [
    # projects
    ("project create a/b", 1),
    ("project create what?", 1),
    ("project create 'my tickets'", 1),
    ("project create p --kind sideways", 2),
    ("project show ghost", 3),
    ("project delete ghost --yes", 3),
    ("project rename ghost other", 3),
    ("project rename p a/b", 1),
    # classes
    ("class add ghost x", 3),
    ("class add p a:b", 1),
    ("class rename p nope other", 3),
    ("class describe p nope --description x", 3),
    ("class remove p nope --yes", 3),
    # import / export
    ("import p {missing}", 1),
    ("import ghost {f}", 3),
    ("import p {d} --format csv", 1),
    ("import p {bad_csv}", 1),
    ("import p {empty_jsonl}", 1),
    ("import p {f} --format nonsense", 1),
    ("import p {f} --text-column nope", 1),
    ("export p {ro}/out.csv --format csv", 1),
    ("export p {ro}/out --format azure", 1),
    ("export p {ro}/out.jsonl", 1),
    ("export ghost {d}/x.csv", 3),
    ("export p {d}/x.txt", 1),
    # documents and labels
    ("docs ghost", 3),
    ("docs p --filter sideways", 2),
    ("docs p --limit 0", 2),
    ("doc p nope", 3),
    ("label p nope a", 3),
    ("label p d1 nope", 3),
    ("unlabel p nope", 3),
    ("dataset p sideways d1", 2),
    ("dataset p test nope", 3),
    ("accept p 999999", 3),
    ("accept p 99999999999999999999999", 3),
    ("reject p 999999", 3),
    ("accept-above p 1.5", 2),
    ("accept-above ghost 0.9", 3),
    ("suggestions ghost", 3),
    # labelers, jobs and LLMs
    ("suggest ghost", 3),
    ("suggest p --labeler sideways", 1),
    ("suggest p --labeler model --model nope", 3),
    ("estimate p --llm nope", 3),
    ("autolabel p --labeler openai --llm nope --yes", 3),
    ("autolabel p --budget -1 --yes", 1),
    ("jobs ghost", 3),
    ("job show 999999", 3),
    ("job show 99999999999999999999999", 3),
    ("job cancel 999999", 3),
    ("job resume 999999", 3),
    ("llm add x --provider nope --endpoint http://h/v1 --model m", 1),
    ("llm add x --provider openai --endpoint ftp://h --model m", 1),
    ("llm add x --provider openai --endpoint http://h/v1 --model m --api-key-env HOME", 1),
    ("llm show nope", 3),
    ("llm remove nope", 3),
    # training and serving
    ("train ghost --model v1", 3),
    ("train p --model v1 --split 0", 1),
    ("evaluate p nope", 3),
    ("model show p nope", 3),
    ("model delete p nope --yes", 3),
    ("deploy p nope --name prod", 3),
    ("predict p text --deployment nope", 3),
    ("predict p --file {missing} --deployment x", 1),
    ("predict p --file {d} --deployment x", 1),
    ("predict p --file {bad_json} --deployment x", 1),
    ("serve --port 99999", 2),
    ("serve --port 0", 2),
]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "folder").mkdir()
    good = tmp_path / "good.jsonl"
    good.write_text('{"name": "n", "text": "hello"}\n', encoding="utf-8")
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": \n[[[', encoding="utf-8")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("", encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    return {
        "d": str(tmp_path / "folder"),
        "f": str(good),
        "bad_json": str(bad_json),
        "bad_csv": str(bad_csv),
        "empty_jsonl": str(empty),
        "ro": str(blocker),
        "missing": str(tmp_path / "nowhere" / "x.jsonl"),
    }


@pytest.fixture
def project(cli_env: str, runner: CliRunner, paths: dict[str, str]) -> None:
    for args in (["project", "create", "p"], ["class", "add", "p", "a", "b"]):
        assert runner.invoke(app, args).exit_code == 0
    path = Path(paths["d"]).parent / "docs.jsonl"
    path.write_text('{"name": "d1", "text": "first"}\n{"name": "d2", "text": "second"}\n')
    assert runner.invoke(app, ["import", "p", str(path)]).exit_code == 0


@pytest.mark.parametrize(("line", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_error(
    line: str,
    code: int,
    project: None,
    runner: CliRunner,
    paths: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shlex

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = shlex.split(line.format(**paths))
    result = runner.invoke(app, args)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception),
        output,
    )
    assert result.exit_code == code, (result.exit_code, output)
    if code != 2:  # Click prints its own usage errors
        lines = [x for x in result.stderr.splitlines() if x.strip()]
        assert lines and lines[0].startswith("error: "), output
    assert os.environ.get("LABELWISE_DATABASE_URL")


def test_accept_and_reject_by_document_name(project: None, runner: CliRunner, cli_env: str) -> None:
    """`accept PROJECT DOC [CLASS]` names documents as `label` does; ids still work."""
    import json

    assert runner.invoke(app, ["suggest", "p"]).exit_code == 0
    rows = json.loads(runner.invoke(app, ["suggestions", "p", "--json"]).stdout)
    by_doc = {r["document"]: r for r in rows}
    assert set(by_doc) == {"d1", "d2"} and by_doc["d1"]["excerpt"] == "first"
    result = runner.invoke(app, ["accept", "p", "d1"])
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(app, ["doc", "p", "d1", "--json"]).stdout)
    assert shown["labels"] == [by_doc["d1"]["class"]]
    other = "a" if by_doc["d2"]["class"] == "b" else "b"
    result = runner.invoke(app, ["reject", "p", "d2", other])
    assert result.exit_code == 3 and "no suggestion of class" in result.stderr
    result = runner.invoke(app, ["reject", "p", str(by_doc["d2"]["id"])])
    assert result.exit_code == 0, result.output
    assert json.loads(runner.invoke(app, ["suggestions", "p", "--json"]).stdout) == []


def test_jobs_and_help_read_at_80_columns(
    project: None, runner: CliRunner, cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No status word or cost cut to `succ…` / `$0.0…`; help keeps its [default: ...] text."""
    from labelwise.jobs import runner as jobs
    from labelwise.store.models import Job
    from tests.test_cli import get_store

    store = get_store()
    job_id = jobs.create(store, "p", "embedding")
    with store.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.cost_usd, job.prompt_tokens = "partially_succeeded", 0.0123, 123456
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["jobs", "p"])
    assert result.exit_code == 0, result.output
    assert "partially_succeeded" in result.stdout and "$0.0123" in result.stdout
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    result = runner.invoke(app, ["import", "--help"])
    assert "[default: text]" in result.stdout and "with the text ." not in result.stdout
