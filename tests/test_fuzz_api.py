"""Property-based requests from the OpenAPI document (schemathesis) against a real uvicorn server
on each database: whatever a client sends, the server answers without a 5xx. Fixed seed and a
bounded number of examples per operation, so CI is repeatable and quick.

Hypothesis drives each operation's strategy directly (schemathesis' pytest plugin does not load
under this pytest); the check is schemathesis' own ``not_a_server_error``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from labelwise.store import Store
from labelwise.web.app import create_app
from tests.test_api import serve
from tests.test_training import build

EXAMPLES = 15
# starting a training or an autolabel job runs real work in the background; the fuzzer only
# needs their validation, which the same routes answer before any work starts
SLOW = {("POST", "/api/projects/{project}/models")}


@pytest.fixture
def base_url(store: Store) -> Iterator[str]:
    build(store)
    yield from serve(store, None)


def operations(store: Store) -> list[Any]:
    schema = schemathesis.openapi.from_dict(create_app(store, run_jobs=False).openapi())
    return [result.ok() for result in schema.get_all_operations()]


def test_no_input_gives_a_server_error(store: Store, base_url: str) -> None:
    failures: list[str] = []
    calls: list[int] = []
    ops = operations(store)
    assert len(ops) >= 30
    for op in ops:
        if (op.method.upper(), op.path) in SLOW:
            continue

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # a fixed seed: the same requests on every run
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            calls.append(1)
            case.call_and_validate(base_url=base_url, checks=[not_a_server_error], timeout=60)

        try:
            run()
        except Exception as exc:
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
    assert len(calls) >= 5 * len(ops), len(calls)  # the requests were really sent
