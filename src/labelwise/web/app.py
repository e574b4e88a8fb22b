"""``create_app``: the FastAPI application, built from settings; nothing runs at import."""

from __future__ import annotations

import ipaddress

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from labelwise import __version__
from labelwise.domain import Conflict, LabelwiseError, NotFound
from labelwise.store import Store
from labelwise.web.deps import require_token
from labelwise.web.routers import predict


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Bound to anything but loopback, the server needs an access token."""
    if not is_loopback(host) and not token:
        raise LabelwiseError(
            f"refusing to serve on {host} without an access token: set LABELWISE_API_TOKEN "
            "(clients then send Authorization: Bearer <token>), or bind to 127.0.0.1"
        )


def create_app(store: Store, token: str | None = None) -> FastAPI:
    app = FastAPI(title="labelwise", version=__version__, dependencies=[Depends(require_token)])
    app.state.store = store
    app.state.token = token or None

    @app.exception_handler(LabelwiseError)
    def labelwise_error(_request: Request, exc: LabelwiseError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
        return JSONResponse(
            {"error": {"code": type(exc).__name__, "message": str(exc)}}, status_code=status
        )

    @app.get("/api/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(predict.router)
    return app
