"""The REST API on a real uvicorn server on loopback, spoken to over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from labelwise.domain import LabelwiseError
from labelwise.store import Store, trained
from labelwise.store.projects import get_project
from labelwise.training.train import TrainOptions, train_model
from labelwise.web.app import check_binding, create_app
from tests.test_training import build

TOKEN = "test-token-123"


def serve(store: Store, token: str | None) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, token), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def api(store: Store) -> Iterator[str]:
    build(store)
    train_model(store, "p", "m1", TrainOptions(manual_split=True))
    with store.session() as s:
        trained.deploy(s, get_project(s, "p"), "m1", "production")
    yield from serve(store, TOKEN)


def call(url: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_predict(api: str) -> None:
    status, body = call(
        f"{api}/api/projects/p/deployments/production/predict",
        {
            "documents": [
                {"id": "a", "text": "Rain and strong wind all day."},
                {"id": "b", "text": "Bake the bread in a hot oven."},
            ]
        },
    )
    assert status == 200, body
    assert body["deployment"] == "production"
    assert [(d["id"], d["class"][0]["category"]) for d in body["documents"]] == [
        ("a", "weather"),
        ("b", "cooking"),
    ]
    assert 0 < body["documents"][0]["class"][0]["confidenceScore"] <= 1
    assert set(body["documents"][0]["scores"]) == {"weather", "sports", "cooking"}


@pytest.mark.parametrize(
    ("documents", "status", "message"),
    [
        ([{"id": str(i), "text": "x"} for i in range(26)], 400, "26 documents in one request"),
        (
            [{"id": "1", "text": "y" * 70_000}, {"id": "2", "text": "z" * 60_000}],
            400,
            "130,000 characters",
        ),
        ([{"id": "1", "text": "  "}], 400, "document 0 is empty"),
    ],
)
def test_predict_limits(
    api: str, documents: list[dict[str, str]], status: int, message: str
) -> None:
    code, body = call(
        f"{api}/api/projects/p/deployments/production/predict", {"documents": documents}
    )
    assert code == status and message in body["error"]["message"]


def test_errors_are_json_with_the_right_status(api: str) -> None:
    code, body = call(
        f"{api}/api/projects/p/deployments/staging/predict",
        {"documents": [{"id": "1", "text": "hi"}]},
    )
    assert code == 404 and "no deployment 'staging'" in body["error"]["message"]
    code, body = call(f"{api}/api/projects/p/deployments/production/predict", {"docs": []})
    assert code == 422
    code, body = call(f"{api}/api/projects", token=None)
    assert code == 401 and "access token" in body["error"]["message"]
    code, _ = call(f"{api}/api/projects/p/documents", token="wrong")
    assert code == 401
    code, body = call(f"{api}/api/health", token=None)  # liveness needs no token
    assert code == 200 and body["status"] == "ok"


def test_binding_rule() -> None:
    check_binding("127.0.0.1", None)
    check_binding("::1", None)
    check_binding("0.0.0.0", TOKEN)
    with pytest.raises(LabelwiseError, match="without an access token"):
        check_binding("0.0.0.0", None)
