"""Fixtures: a real database per test — SQLite always, PostgreSQL when
LABELWISE_TEST_DATABASE_URL is set (each test in a schema of its own)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelwise.cli.common import get_store
from labelwise.store import Store, open_store
from labelwise.store.db import scratch_schema

PG_URL = os.environ.get("LABELWISE_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session", autouse=True)
def models_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder for the models labelwise makes (the fast English encoder's), shared by every
    test and the processes they start, instead of one per test's home (or the user's own)."""
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABELWISE_MODELS", str(folder))
        yield folder


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'labelwise.db'}"
        return
    assert PG_URL is not None
    with scratch_schema(PG_URL) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI at the test database (the environment is how users configure it)."""
    monkeypatch.setenv("LABELWISE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABELWISE_DATABASE_URL", db_url)
    get_store.cache_clear()
    yield db_url
    if get_store.cache_info().currsize:
        get_store().dispose()
    get_store.cache_clear()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
