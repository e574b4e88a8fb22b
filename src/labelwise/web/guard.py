"""Guards in front of every route: the ``Host`` a request names and the ``Origin`` of a change.

A server on loopback is reachable from any page the user opens: through DNS rebinding a page of
``evil.example`` resolves its own name to 127.0.0.1 and then talks to the server as a
same-origin page of ``evil.example:PORT``. Two checks close that door:

- ``Host`` must name the address the server is bound to (``127.0.0.1``, ``localhost`` and
  ``[::1]`` on loopback), or a name the operator configured (``LABELWISE_ALLOWED_HOSTS``);
- a request that changes something and carries an ``Origin`` (every browser sends one on a
  POST, PUT, PATCH or DELETE) must come from this server's own origin.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The host names a request may name, for a server bound to ``bind``; None means any (a
    wildcard bind, which needs the access token anyway)."""
    names = {h.strip().lower().strip("[]") for h in extra if h.strip()}
    if bind in ("0.0.0.0", "::", "") and not names:
        return None
    if bind not in ("0.0.0.0", "::", ""):
        names.add(bind.lower().strip("[]"))
    if is_loopback(bind) or bind in ("0.0.0.0", "::", ""):
        names.update(LOOPBACK_NAMES)
    return frozenset(names)


def host_name(value: str) -> str:
    """``name`` of a ``Host`` value ``name[:port]`` / ``[v6]:port``, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def refusal(scope: Scope, hosts: frozenset[str] | None) -> str | None:
    """Why this request is refused, or None."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    host = headers.get("host", "")
    if hosts is not None and host_name(host) not in hosts:
        return (
            f"the Host header {host[:100]!r} does not name this server; open it as "
            "http://127.0.0.1:PORT, or list the name in LABELWISE_ALLOWED_HOSTS"
        )
    if scope.get("method", "GET") in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if headers.get("sec-fetch-site") == "cross-site" or origin == "null":
        return "a change from another site is refused"
    if origin is not None:
        parts = urlsplit(origin)
        if parts.netloc.lower() != host.strip().lower():
            return f"a change from {origin[:100]!r} is refused: it is not this server's origin"
    return None


class HostOriginGuard:
    """ASGI middleware applying :func:`refusal` to every HTTP request."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = refusal(scope, self.hosts)
        if reason is not None:
            status = 400 if "Host header" in reason else 403
            await _answer(send, status, "BadHost" if status == 400 else "Forbidden", reason)
            return
        if NUL_QUERY.search(scope.get("query_string", b"")):
            await _answer(send, 400, "InvalidValue", NUL_MESSAGE.format(where="the query"))
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        # a JSON body is small: read it whole (bounded), refuse NULs, then hand it on
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_JSON_BODY:
                await _answer(send, 413, "TooLarge", "a JSON body is limited to 16 MiB")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\x00" in body or NUL_ESCAPE.search(body):
            await _answer(send, 400, "InvalidValue", NUL_MESSAGE.format(where="the body"))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


MAX_JSON_BODY = 16 * 2**20
NUL_QUERY = re.compile(rb"%00")
NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
NUL_MESSAGE = (
    "{where} contains a NUL character, which no text can hold here (as PostgreSQL refuses it, "
    "labelwise refuses it on every database); remove it"
)


def _is_json(scope: Scope) -> bool:
    if scope.get("method", "GET") in SAFE_METHODS:
        return False
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"application/json")
    return False


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def local_path(next_: str) -> str:
    """``next_`` when it is a path on this server, else ``/`` (no ``//host`` or ``/\\host``,
    which browsers read as another site)."""
    if not next_.startswith("/") or next_[1:2] in ("/", "\\") or any(c < " " for c in next_):
        return "/"
    return next_
