"""Dependencies shared by the routers: the store and the access check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from labelwise.store import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def require_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """With an access token configured, every route needs ``Authorization: Bearer <token>``."""
    token: str | None = request.app.state.token
    if token is None:
        return
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "missing or wrong access token (Authorization: Bearer ...)")


StoreDep = Annotated[Store, Depends(get_store)]
