"""``create_app``: the FastAPI application, built from settings; nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException

from labelwise import __version__
from labelwise.domain import Conflict, LabelwiseError, NotFound
from labelwise.schemas import EncoderPublic, HealthPublic
from labelwise.store import Store
from labelwise.web import pages
from labelwise.web.background import Background
from labelwise.web.deps import require_access
from labelwise.web.guard import HostOriginGuard, allowed_hosts, is_loopback
from labelwise.web.routers import audit, documents, jobs, predict, projects, suggestions, training

STATIC = Path(__file__).parent / "static"


def swagger_assets() -> Path:
    """Swagger UI 5 (OpenAPI 3.1), shipped by the fastapi-swagger package."""
    import fastapi_swagger.resources

    return Path(fastapi_swagger.resources.__file__).parent


def check_token(token: str | None) -> None:
    """A configured token must be one: blank or whitespace is refused, not taken as none."""
    if token is not None and not token.strip():
        raise LabelwiseError(
            "LABELWISE_API_TOKEN is blank; set it to a long random string "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`) or unset it"
        )


def check_binding(host: str, token: str | None) -> None:
    """Bound to anything but loopback, the server needs an access token."""
    check_token(token)
    if not is_loopback(host) and not token:
        raise LabelwiseError(
            f"refusing to serve on {host} without an access token: set LABELWISE_API_TOKEN "
            "(clients then send Authorization: Bearer <token>), or bind to 127.0.0.1"
        )


def create_app(
    store: Store,
    token: str | None = None,
    *,
    run_jobs: bool = True,
    bind: str = "127.0.0.1",
    extra_hosts: Iterable[str] = (),
) -> FastAPI:
    """The API and the pages over ``store``, answering only requests whose ``Host`` names
    ``bind`` (or one of ``extra_hosts``). With ``run_jobs`` the server runs queued and
    interrupted jobs in the background (it is a worker of its own)."""
    check_token(token)
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
        openapi_url=None,  # served below, behind the access token like every route
    )
    app.add_middleware(HostOriginGuard, hosts=allowed_hosts(bind, extra_hosts))
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

    @app.exception_handler(DBAPIError)
    def database_refused(request: Request, exc: DBAPIError) -> Response:
        """What the database refuses in a request (a value out of range, too long, a NUL)
        answers 400, naming the reason but never the statement or other rows' values."""
        reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig is not None else ""
        if isinstance(exc, IntegrityError):
            return error(
                request, 409, "Conflict", f"the change conflicts with stored data ({reason})"
            )
        if isinstance(exc, DataError):
            return error(request, 400, "InvalidValue", f"a value cannot be stored ({reason})")
        raise exc

    @app.exception_handler(OverflowError)
    def too_large(request: Request, exc: OverflowError) -> Response:
        return error(request, 400, "InvalidValue", "a number in the request is out of range")

    @app.exception_handler(UnicodeError)
    def not_unicode(request: Request, exc: UnicodeError) -> Response:
        return error(
            request,
            400,
            "InvalidValue",
            "a text in the request is not valid Unicode (a lone surrogate or an invalid byte)",
        )

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return error(request, 422, "ValidationError", problems)

    @app.get("/api/health", tags=["health"], response_model=HealthPublic)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/encoders", tags=["projects"], response_model=list[EncoderPublic])
    def encoders() -> list[dict[str, object]]:
        """The sentence encoders a project can use, with their languages and licences."""
        from labelwise.encoders import encoder_table

        return encoder_table()

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

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

    for module in (projects, documents, suggestions, audit, jobs, training, predict):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_assets()), name="docs-assets")
    return app
