"""The README's promises: CI runs the README's test command verbatim, and the CLI tour runs as
written, line by line, in an empty folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sh_blocks(after: str) -> list[str]:
    """The ```sh blocks that follow the heading or sentence ``after``."""
    return re.findall(r"```sh\n(.*?)```", README[README.index(after) :], re.DOTALL)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    command = sh_blocks("Run the whole test suite")[0].strip()
    assert command.endswith("-m pytest") and "\n" not in command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci.splitlines(), f"{command!r} is not a line of .ci/run"


def test_the_demo_command_is_the_first_block() -> None:
    command = sh_blocks("## Two commands")[0].strip()
    assert (
        command == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/labelwise demo"
    )


def tour_lines() -> list[str]:
    block = sh_blocks("## A short tour of the CLI")[0]
    return [line for line in block.splitlines() if line.strip()]


def test_tour_has_one_command_per_line() -> None:
    for line in tour_lines():
        code = re.split(r"\s#\s", line, maxsplit=1)[0]
        assert line.startswith("labelwise "), line
        assert not re.search(r"\s(\||&&|;)\s", code), f"more than one command: {line}"


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    exe = shutil.which("labelwise", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the labelwise console script is not installed beside this Python")
    env = {
        **os.environ,
        "LABELWISE_HOME": str(tmp_path / "home"),
        "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("LABELWISE_DATABASE_URL", None)
    work = tmp_path / "tour"
    work.mkdir()
    for line in tour_lines():
        if line.startswith("labelwise serve"):
            continue  # it serves until stopped
        result = subprocess.run(
            ["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (line, result.stdout[-2000:], result.stderr[-2000:])
        assert "Traceback" not in result.stderr, line
