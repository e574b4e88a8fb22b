"""`labelwise serve`: the pages and the REST API (OpenAPI at /docs)."""

from __future__ import annotations

import typer

from labelwise.cli.common import get_store, out


def serve(
    host: str = typer.Option(
        "127.0.0.1", help="Address to bind; anything but loopback needs LABELWISE_API_TOKEN."
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="Port."),
) -> None:
    """Serve the review pages and the REST API; runs queued and interrupted jobs too."""
    import uvicorn

    from labelwise.settings import Settings
    from labelwise.web.app import check_binding, create_app

    settings = Settings()
    token = settings.api_token.get_secret_value() if settings.api_token else None
    check_binding(host, token)
    out.print(f"labelwise on http://{host}:{port} (pages at /, OpenAPI at /docs)")
    app = create_app(get_store(), token, bind=host, extra_hosts=settings.host_names())
    uvicorn.run(app, host=host, port=port, log_level="warning")
