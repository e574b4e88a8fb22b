"""``create_app``: the FastAPI application, built from settings; nothing runs at import."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from labelwise import __version__
from labelwise.domain import Conflict, LabelwiseError, NotFound
from labelwise.store import Store
from labelwise.web import pages
from labelwise.web.background import Background
from labelwise.web.deps import require_access
from labelwise.web.routers import documents, jobs, predict, projects, suggestions, training

STATIC = Path(__file__).parent / "static"


def swagger_assets() -> Path:
    """Swagger UI 5 (OpenAPI 3.1), shipped by the fastapi-swagger package."""
    import fastapi_swagger.resources

    return Path(fastapi_swagger.resources.__file__).parent


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


def create_app(store: Store, token: str | None = None, *, run_jobs: bool = True) -> FastAPI:
    """The API and the pages over ``store``. With ``run_jobs`` the server runs queued and
    interrupted jobs in the background (it is a worker of its own)."""
    background = Background(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if run_jobs:
            background.start()
        try:
            yield
        finally:
            background.shutdown()

    app = FastAPI(
        title="labelwise",
        version=__version__,
        description="Custom text classification with LLM autolabeling.",
        dependencies=[Depends(require_access)],
        lifespan=lifespan,
        docs_url=None,  # served below from the package: no CDN, works offline
        redoc_url=None,
    )
    app.state.store = store
    app.state.token = token or None
    app.state.background = background

    def error(request: Request, status: int, code: str, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
        return pages.error_page(request, status, message)

    @app.exception_handler(LabelwiseError)
    def labelwise_error(request: Request, exc: LabelwiseError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
        return error(request, status, type(exc).__name__, str(exc))

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 303:  # sign in first
            return Response(status_code=303, headers=exc.headers)
        code = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(
            exc.status_code, "HTTPError"
        )
        return error(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return error(request, 422, "ValidationError", problems)

    @app.get("/api/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        """Swagger UI for the OpenAPI document, served from a package (works offline)."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="labelwise API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    for module in (projects, documents, suggestions, jobs, training, predict):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_assets()), name="docs-assets")
    return app
