"""What every command shares: the store, errors a user can act on, JSON and progress output."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from sqlalchemy.exc import DataError

from labelwise.domain import Dataset, DocFilter, LabelwiseError, NotFound
from labelwise.settings import Settings
from labelwise.store import Store, open_store
from labelwise.store.query import DocumentQuery

# C0 and C1 control characters but tab and newline: document text must not drive the terminal
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without control characters (ESC sequences, bells, carriage returns)."""
    return CONTROL.sub("\ufffd", text)


class SafeConsole(Console):
    """A console for untrusted text: no markup, no ``:emoji:`` codes, no highlighting, and
    every string (printed or in a table cell) stripped of control characters."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


out = SafeConsole(highlight=False, markup=False, emoji=False)  # names and text are data
err = SafeConsole(stderr=True, highlight=False, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = typer.Option(False, "--json", help="Print JSON only (for scripts).")
YesOpt = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def _described(field: str) -> str | None:
    return DocumentQuery.model_fields[field].description


# the filters of :class:`DocumentQuery`, described where they are declared
FilterOpt = typer.Option(DocFilter.ALL, "--filter", help=_described("filter"))
ClassFilterOpt = typer.Option(None, "--class", help=_described("class_name"))
DatasetFilterOpt: Dataset | None = typer.Option(None, "--dataset", help=_described("dataset"))
SearchOpt = typer.Option(None, "--search", help=_described("q"))
MinConfidenceOpt = typer.Option(None, "--min-confidence", help=_described("min_confidence"))
MaxConfidenceOpt = typer.Option(None, "--max-confidence", help=_described("max_confidence"))
LabelerFilterOpt = typer.Option(None, "--labeler", help=_described("labeler"))
JobFilterOpt = typer.Option(None, "--job", help=_described("job"))
OPTION_OF = {"class": "--class", "q": "--search"}


def option_error(exc: ValidationError) -> LabelwiseError:
    """A model's refusal of a command's option values, as one line naming the option."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "filter"
    option = OPTION_OF.get(name, "--" + name.replace("_", "-"))
    return LabelwiseError(f"{option}: {first['msg']}")


def document_query(**fields: Any) -> DocumentQuery:
    """The :class:`DocumentQuery` of a command's filter options, or an error naming the option."""
    try:
        return DocumentQuery.model_validate(fields)
    except ValidationError as exc:
        raise option_error(exc) from exc


class App(typer.Typer):
    """A Typer app whose commands turn library errors into one clean line and an exit code."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().command(*args, **kwargs)

        def decorator(func: F) -> F:
            register(friendly_errors(func))
            return func

        return decorator


def friendly_errors(func: F) -> F:
    """Print a :class:`LabelwiseError` as ``error: ...`` on stderr and exit 1 (3: not found)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LabelwiseError as exc:
            fail(str(exc))
            raise typer.Exit(3 if isinstance(exc, NotFound) else 1) from exc
        except DataError as exc:  # a value the database cannot hold (a safety net)
            fail(f"the database refused a value: {str(exc.orig).splitlines()[0][:200]}")
            raise typer.Exit(1) from exc
        except OSError as exc:  # a path that cannot be read or written
            where = f" {exc.filename}" if exc.filename else ""
            reason = exc.strerror or str(exc)
            fail(
                f"cannot use{where}: {reason}; check the path, that it is a file where a file "
                "is needed, and its permissions"
            )
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]


def fail(message: str) -> None:
    """Print ``error: message`` on stderr, on one logical line."""
    err.print(Text("error: ", style="bold red") + Text(printable(message)), soft_wrap=True)


@cache
def get_store() -> Store:
    """The store named by the environment, opened (and migrated) once per process."""
    return open_store(Settings().resolved_database_url())


def emit_json(data: Any, shape: Any = None) -> None:
    """Print ``data`` as JSON; with ``shape`` (a model of :mod:`labelwise.schemas`, or
    ``list[Model]``), exactly as the API answers it: checked against the shape, by alias."""
    if shape is not None:
        adapter: TypeAdapter[Any] = TypeAdapter(shape)
        data = adapter.dump_python(adapter.validate_python(data), mode="json", by_alias=True)
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def confirm(question: str, yes: bool) -> None:
    """Ask unless ``--yes``; refuse to guess when nobody can answer."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise LabelwiseError(f"{question} — pass --yes to confirm when not at a terminal")
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


@contextmanager
def progress_bar(
    description: str, quiet: bool = False
) -> Iterator[Callable[[int, int | None], None]]:
    """A Rich bar on stderr driven by an ``on_progress(done, total)`` callback."""
    with progress_steps(quiet) as step:
        yield step(description)


@contextmanager
def progress_steps(
    quiet: bool = False,
) -> Iterator[Callable[[str], Callable[[int, int | None], None]]]:
    """One Rich display with a bar per step: ``step(name)`` gives that step's callback."""
    if quiet:
        yield lambda name: lambda done, total: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with live_progress(*columns) as bar:

        def step(name: str) -> Callable[[int, int | None], None]:
            task = bar.add_task(name, total=None)

            def on_progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            return on_progress

        yield step


@contextmanager
def live_progress(*columns: Any) -> Iterator[Progress]:
    """A Rich progress display on stderr that an error clears, so that the error is the only
    thing left on the screen (no half-drawn bar above it)."""
    bar = Progress(*columns, console=err)
    bar.start()
    try:
        yield bar
    except BaseException:
        for task in list(bar.task_ids):
            bar.remove_task(task)
        raise
    finally:
        bar.stop()
