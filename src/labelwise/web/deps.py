"""Dependencies shared by the routers: the store, the access check and CSRF protection.

Access: with an access token configured, an API client sends ``Authorization: Bearer <token>``
and a browser signs in once (``/login``), which sets the token in an HttpOnly, SameSite=Strict
cookie. CSRF: a request that changes something and comes from a browser (it carries a cookie, an
``Origin`` or a ``Sec-Fetch-Site`` header) must echo the ``lw_csrf`` cookie in an
``X-CSRF-Token`` header or a ``csrf_token`` form field — which a page of another site cannot
read. Scripts that speak the API directly (no cookies, no Origin) need only the token.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import Field

from labelwise.domain import MAX_ID
from labelwise.store import Store

TOKEN_COOKIE = "lw_token"
CSRF_COOKIE = "lw_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_PATHS = ("/login", "/static/", "/docs-assets/", "/api/health")


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def signed_in(request: Request) -> bool:
    """Whether the request carries the access token (header or cookie), or none is needed."""
    token: str | None = request.app.state.token
    if token is None:
        return True
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer ") and _same(header.removeprefix("Bearer ").strip(), token):
        return True
    return _same(request.cookies.get(TOKEN_COOKIE, ""), token)


def from_browser(request: Request) -> bool:
    return bool(
        request.cookies
        or request.headers.get("origin")
        or request.headers.get("sec-fetch-site") not in (None, "none")
    )


async def require_access(request: Request) -> None:
    """Every route but sign-in and static files: the token (when configured), and for changes
    coming from a browser the CSRF token."""
    path = request.url.path
    if any(path == p or (p.endswith("/") and path.startswith(p)) for p in OPEN_PATHS):
        return
    if not signed_in(request):
        if path.startswith("/api/") or path == "/openapi.json":
            raise HTTPException(401, "missing or wrong access token (Authorization: Bearer ...)")
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
    if request.method in SAFE_METHODS or not from_browser(request):
        return
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        given = str((await request.form()).get("csrf_token", ""))
    if not expected or not given or not _same(expected, given):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


def csrf_token(request: Request) -> str:
    """The page's CSRF token: the cookie's, or a new one the page will set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


StoreDep = Annotated[Store, Depends(get_store)]
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A stored row's id, in a path, a query or a body."""
