"""Hostile pages and requests against a real uvicorn server: DNS rebinding (a foreign ``Host``),
cross-site changes (``Origin``), environment variables sent as keys, open redirects, blank
tokens, oversized uploads and values each database refuses. Every input error is a 4xx."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from labelwise.cli import app as cli
from labelwise.domain import LabelwiseError
from labelwise.store import Store
from labelwise.web.app import create_app
from tests.test_api import serve
from tests.test_training import build
from tests.test_web_api import Client

TOKEN = "hostile-token-789"


@pytest.fixture
def open_site(store: Store) -> Iterator[Client]:
    """The server as a user runs it on loopback: no token."""
    build(store)
    for base in serve(store, None):
        yield Client(base)


@pytest.fixture
def token_site(store: Store) -> Iterator[Client]:
    build(store)
    for base in serve(store, TOKEN):
        yield Client(base, TOKEN)


def raw(
    base: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One request with exactly these headers (``Host`` included), as a rebinding page sends."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    if body:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body or None)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def test_a_foreign_host_is_refused_everywhere(open_site: Client) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends Host: evil.example."""
    port = urlsplit(open_site.base).port
    for path in ("/api/projects/p/export", "/", "/api/projects", "/openapi.json", "/login"):
        status, body = raw(open_site.base, "GET", path, {"Host": f"evil.example:{port}"})
        assert status == 400, path
        assert b"does not name this server" in body and b"rain" not in body
    status, _ = raw(
        open_site.base,
        "POST",
        "/api/projects",
        {"Host": f"evil.example:{port}", "Content-Type": "application/json"},
        b'{"name": "z"}',
    )
    assert status == 400
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        status, body = raw(open_site.base, "GET", "/api/projects/p/export", {"Host": host})
        assert status == 200 and b"rain" in body, host


def test_extra_host_names_are_configured_not_guessed(store: Store) -> None:
    from labelwise.web.guard import allowed_hosts

    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert "labels.internal" in (allowed_hosts("10.0.0.5", ["labels.internal"]) or ())
    assert "evil.example" not in (allowed_hosts("10.0.0.5", ["labels.internal"]) or ())
    assert allowed_hosts("0.0.0.0") is None  # any name: the token guards a wildcard bind


def test_changes_from_another_origin_are_refused(open_site: Client) -> None:
    """Even with a valid CSRF pair, a change whose Origin is another site is refused."""
    pair = {"Cookie": "lw_csrf=abc", "X-CSRF-Token": "abc"}
    for headers in (
        {**pair, "Origin": "http://evil.example"},
        {**pair, "Origin": "null"},
        {**pair, "Sec-Fetch-Site": "cross-site"},
    ):
        status, body, _ = open_site("POST", "/api/projects", {"name": "z"}, headers=headers)
        assert status == 403, headers
    status, body, _ = open_site(
        "POST", "/api/projects", {"name": "z"}, headers={**pair, "Origin": open_site.base}
    )
    assert status == 201, body


def test_blank_tokens_are_refused(
    store: Store, cli_env: str, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for blank in ("", " ", "\t"):
        with pytest.raises(LabelwiseError, match="blank"):
            create_app(store, blank)
    monkeypatch.setenv("LABELWISE_API_TOKEN", " ")
    result = runner.invoke(cli, ["serve", "--port", "8765"])
    assert result.exit_code == 1 and "blank" in result.stderr


def test_openapi_and_docs_need_the_token(token_site: Client) -> None:
    anonymous = Client(token_site.base)
    assert anonymous("GET", "/openapi.json")[0] == 401
    status, _ = raw(token_site.base, "GET", "/docs", {"Host": urlsplit(token_site.base).netloc})
    assert status == 303
    status, schema, _ = token_site("GET", "/openapi.json")
    assert status == 200 and "/api/projects" in schema["paths"]


def test_sign_in_only_redirects_to_local_paths(token_site: Client) -> None:
    host = urlsplit(token_site.base).netloc
    for target in ("//evil.example", "/\\evil.example", "http://evil.example", "/%0d//x"):
        status, body = raw(token_site.base, "GET", f"/login?next={target}", {"Host": host})
        assert status == 200 and b"evil.example" not in body, target
    cookie = "lw_csrf=c1"
    status, _ = raw(
        token_site.base,
        "POST",
        "/login",
        {
            "Host": host,
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"http://{host}",
        },
        f"token={TOKEN}&next=//evil.example/x&csrf_token=c1".encode(),
    )
    assert status == 303
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request(
        "POST",
        "/login",
        f"token={TOKEN}&next=//evil.example/x&csrf_token=c1",
        {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    resp = conn.getresponse()
    assert resp.status == 303 and resp.getheader("location") == "/"


def test_only_key_variables_can_be_named(
    open_site: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: api_key_env AWS_SECRET_ACCESS_KEY sent that secret to any endpoint."""
    body = {
        "name": "x",
        "provider": "openai",
        "endpoint": "http://attacker.invalid/v1",
        "model": "m",
        "api_key_env": "AWS_SECRET_ACCESS_KEY",
    }
    status, answer, _ = open_site("POST", "/api/llm", body)
    assert status == 400 and "_API_KEY" in answer["error"]["message"]
    assert open_site("GET", "/api/llm")[1] == []
    monkeypatch.setenv("LABELWISE_ALLOWED_KEY_ENVS", "MY_TOKEN, OTHER")
    status, _, _ = open_site("POST", "/api/llm", {**body, "api_key_env": "MY_TOKEN"})
    assert status == 201
    status, _, _ = open_site(
        "POST", "/api/llm", {**body, "name": "y", "api_key_env": "GROQ_API_KEY"}
    )
    assert status == 201


def test_a_stored_connection_naming_another_variable_cannot_send_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection stored before the allow-list existed is refused when used."""
    from labelwise.labelers.openai import OpenAILabeler

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
    labeler = OpenAILabeler(
        OpenAILabeler.Options(
            endpoint="http://127.0.0.1:9/v1", model="m", api_key_env="AWS_SECRET_ACCESS_KEY"
        )
    )
    with pytest.raises(LabelwiseError, match="not allowed"):
        labeler.check()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/jobs/99999999999999999999999", None),
        ("GET", "/api/jobs/2147483648", None),
        ("POST", "/api/projects/p/suggestions/accept", {"ids": [99999999999999999999]}),
        ("POST", "/api/projects/p/suggestions/accept", {"ids": [2**31]}),
        ("POST", "/api/projects", {"name": "\ud800"}),
        ("POST", "/api/projects", {"name": "a\x00b"}),
        ("POST", "/api/projects", {"name": "ok", "description": "a\x00b"}),
        ("GET", "/api/projects/p/documents?search=a%00b", None),
        ("GET", "/api/projects/p/documents?after=99999999999999999999", None),
        (
            "POST",
            "/api/llm",
            {"name": "e", "provider": "openai", "model": "m", "endpoint": "http://x/" + "a" * 600},
        ),
    ],
)
def test_input_errors_are_4xx(open_site: Client, method: str, path: str, body: object) -> None:
    status, answer, _ = open_site(method, path, body)
    assert 400 <= status < 500, (status, answer)
    assert isinstance(answer, dict) and answer["error"]["message"]


def test_deep_and_huge_json_bodies_are_4xx(open_site: Client) -> None:
    deep = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    big = b'{"ids": [' + b"9" * 5000 + b"]}"
    for path, data in (("/api/projects", deep), ("/api/projects/p/suggestions/accept", big)):
        status, answer, _ = open_site(
            "POST", path, raw=data, headers={"Content-Type": "application/json"}
        )
        assert 400 <= status < 500, (path, status, answer)


def test_uploads_stream_and_stop_at_the_limit(
    open_site: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit holds while reading a chunked body (no Content-Length to trust)."""
    from labelwise.web.routers import projects

    monkeypatch.setattr(projects, "MAX_UPLOAD", 64 * 1024)
    before = open_site("GET", "/api/projects/p")[1]["documents"]
    host = urlsplit(open_site.base).netloc
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.putrequest("POST", "/api/projects/p/import?format=jsonl")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    line = (json.dumps({"text": "x" * 1000}) + "\n").encode()
    try:
        for _ in range(200):  # 200 KB, over the 64 KiB limit
            conn.send(b"%x\r\n%s\r\n" % (len(line), line))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading early
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    assert resp.status == 400 and "MiB" in answer["error"]["message"]
    status, counts, _ = open_site("GET", "/api/projects/p")
    assert status == 200 and counts["documents"] == before  # nothing of the upload was stored
