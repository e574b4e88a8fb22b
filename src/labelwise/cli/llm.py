"""`labelwise llm ...`: named LLM connections (settings only; keys stay in the environment)."""

from __future__ import annotations

import typer
from rich.table import Table

from labelwise.cli.common import App, JsonOpt, YesOpt, confirm, emit_json, fail, get_store, out
from labelwise.domain import Conflict
from labelwise.schemas import ConnectionPublic, ConnectionTestPublic
from labelwise.store import llm as svc

llm_app = App(help="LLM connections: Azure OpenAI, OpenAI or any OpenAI-compatible server.")


@llm_app.command("add")
def add(
    name: str,
    provider: str = typer.Option(..., help="azure or openai (any OpenAI-compatible server)."),
    endpoint: str = typer.Option(
        ...,
        help="Azure: https://NAME.openai.azure.com; others: the "
        "base URL, e.g. http://127.0.0.1:8080/v1.",
    ),
    model: str = typer.Option(..., help="The model; for Azure, the deployment name."),
    api_version: str = typer.Option("", help="Azure API version, e.g. 2024-10-21."),
    api_key_env: str = typer.Option(
        "",
        help="Environment variable holding the key "
        "[default: AZURE_OPENAI_API_KEY / OPENAI_API_KEY].",
    ),
    price_model: str = typer.Option(
        "",
        help="The OpenAI model behind an Azure deployment, "
        "for exact tokens and prices [default: --model].",
    ),
    rpm: int | None = typer.Option(None, help="Requests per minute allowed."),
    tpm: int | None = typer.Option(None, help="Tokens per minute allowed."),
) -> None:
    """Save an LLM connection (no key is stored: only the variable's name)."""
    with get_store().session() as session:
        if name in {c.name for c in svc.list_connections(session)}:
            raise Conflict(
                f"an LLM connection named {name!r} already exists; change it with "
                f"`labelwise llm edit {name} --model ...` (or pick another name)"
            )
        svc.add_connection(
            session,
            name,
            provider,
            endpoint,
            model,
            api_version=api_version,
            api_key_env=api_key_env,
            price_model=price_model,
            rpm=rpm,
            tpm=tpm,
        )
    out.print(f"added LLM connection {name!r}")


@llm_app.command("edit")
def edit(
    name: str,
    endpoint: str | None = typer.Option(None, help="A new endpoint."),
    model: str | None = typer.Option(None, help="A new model (Azure: deployment name)."),
    api_version: str | None = typer.Option(None, help="A new Azure API version."),
    api_key_env: str | None = typer.Option(None, help="A new variable holding the key."),
    price_model: str | None = typer.Option(None, help="A new model to price tokens as."),
    rpm: int | None = typer.Option(None, min=1, help="Requests per minute allowed."),
    tpm: int | None = typer.Option(None, min=1, help="Tokens per minute allowed."),
) -> None:
    """Change settings of an LLM connection (only those given)."""
    with get_store().session() as session:
        svc.edit_connection(
            session,
            name,
            endpoint=endpoint,
            model=model,
            api_version=api_version,
            api_key_env=api_key_env,
            price_model=price_model,
            rpm=rpm,
            tpm=tpm,
        )
    out.print(f"changed LLM connection {name!r}")


@llm_app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """List LLM connections."""
    with get_store().session() as session:
        rows = [svc.public(r) for r in svc.list_connections(session)]
    if as_json:
        emit_json(rows, list[ConnectionPublic])
        return
    table = Table("name", "provider", "endpoint", "model", "key from")
    for r in rows:
        table.add_row(r["name"], r["provider"], r["endpoint"], r["model"], f"${r['api_key_env']}")
    out.print(table if rows else "no LLM connections: labelwise llm add NAME ...")


@llm_app.command("show")
def show(name: str, as_json: bool = JsonOpt) -> None:
    """Show one LLM connection."""
    with get_store().session() as session:
        data = svc.public(svc.get_connection(session, name))
    if as_json:
        emit_json(data, ConnectionPublic)
        return
    for key, value in data.items():
        out.print(f"{key}: {value if value is not None else '-'}")


@llm_app.command("remove")
def remove(name: str, yes: bool = YesOpt) -> None:
    """Remove an LLM connection."""
    with get_store().session() as session:
        svc.get_connection(session, name)  # a name that does not exist is said first
    confirm(f"remove LLM connection {name!r}?", yes)
    with get_store().session() as session:
        svc.remove_connection(session, name)
    out.print(f"removed LLM connection {name!r}")


@llm_app.command("test")
def test(name: str, as_json: bool = JsonOpt) -> None:
    """Send one tiny request through a connection: latency, the model that answered, and
    whether the server takes a JSON-schema answer format and gives logprobs."""
    from labelwise.autolabel import connection_check

    result = connection_check(get_store(), name)
    if as_json:
        emit_json(result, ConnectionTestPublic)
    else:
        if result["ok"]:
            out.print(
                f"{name}: answered in {result['latency_ms']} ms by {result['model']}; "
                f"JSON schema {'yes' if result['json_schema'] else 'no (JSON mode or text)'}, "
                f"logprobs {'yes' if result['logprobs'] else 'no (fixed confidence)'}"
            )
        else:
            fail(f"{name}: {result['detail']}")
    if not result["ok"]:
        raise typer.Exit(1)
