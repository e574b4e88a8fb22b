"""The layers: no package of labelwise imports one that imports it back, in-function imports
included (they hid two cycles: labelers <-> training and labelers <-> prompts)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "labelwise"


def unit(path: Path) -> str:
    """``store`` for src/labelwise/store/x.py, ``autolabel`` for src/labelwise/autolabel.py."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        here = unit(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "labelwise" and len(parts) > 1 and parts[1] != here:
                    graph[here].add(parts[1])
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycle = [*path[path.index(nxt) :], nxt]
                if min(cycle[:-1]) == cycle[0]:  # report each cycle once
                    found.append(cycle)
            else:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = imports()
    assert {"labelers", "training", "prompts", "embeddings", "store"} <= set(graph)
    assert cycles(graph) == [], cycles(graph)


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_core_layers_stay_below_the_surfaces() -> None:
    graph = imports()
    for low in ("domain", "settings", "embeddings", "store", "prompts"):
        assert not graph.get(low, set()) & {"web", "cli", "jobs"}, low
    assert not graph.get("domain", set()) - {"settings"}


CORE = (
    "domain",
    "settings",
    "embeddings",
    "store",
    "ingest",
    "labelers",
    "prompts",
    "jobs",
    "training",
    "autolabel",
    "estimate",
    "costs",
    "tokens",
)


def test_no_core_message_names_a_cli_flag() -> None:
    """Browser and API users never see CLI flags; the CLI adds its own hints."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    found = []
    for path in PACKAGE.rglob("*.py"):
        if unit(path) not in CORE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and flag.search(text) and not text.startswith("-"):
                found.append(f"{path.name}:{node.lineno}: {text[:60]}")
    assert not found, found


def test_openapi_names_a_schema_for_json_responses() -> None:
    """>= 90 % of the API's JSON answers are declared *Public models (named in the document)."""
    from labelwise.store import open_store
    from labelwise.web.app import create_app

    store = open_store("sqlite://")
    schema = create_app(store, run_jobs=False).openapi()
    store.dispose()
    named, untyped = 0, []
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            for code, answer in op["responses"].items():
                body = answer.get("content", {}).get("application/json")
                if not code.startswith("2") or body is None:
                    continue
                s = body["schema"]
                if "$ref" in s or "$ref" in s.get("items", {}):
                    named += 1
                else:
                    untyped.append(f"{method.upper()} {path}")
    assert named / (named + len(untyped)) >= 0.9, untyped
    assert named >= 30
