"""Named LLM connections: endpoint, model and the *name* of the key's environment variable."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.domain import Conflict, LabelwiseError, NotFound, check_key_env
from labelwise.settings import Settings
from labelwise.store.models import LlmConnection

PROVIDERS = ("azure", "openai")
DEFAULT_KEY_ENV = {"azure": "AZURE_OPENAI_API_KEY", "openai": "OPENAI_API_KEY"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_connection(
    session: Session,
    name: str,
    provider: str,
    endpoint: str,
    model: str,
    *,
    api_version: str = "",
    api_key_env: str = "",
    price_model: str = "",
    rpm: int | None = None,
    tpm: int | None = None,
) -> LlmConnection:
    """Save a connection; refuses what would leak a key or cannot work."""
    if provider not in PROVIDERS:
        raise LabelwiseError(f"provider {provider!r} is unknown; use azure or openai")
    for text, what, limit in (
        (name, "name", 100),
        (endpoint, "endpoint", 500),
        (model, "model", 200),
        (price_model, "price model", 200),
    ):
        if len(text) > limit:
            raise LabelwiseError(f"the connection's {what} is over {limit} characters")
    if not endpoint.startswith(("http://", "https://")):
        raise LabelwiseError(f"endpoint {endpoint!r} must be an http(s) URL")
    if provider == "azure" and not api_version:
        raise LabelwiseError("an Azure connection needs an API version (e.g. 2024-10-21)")
    if not model.strip():
        raise LabelwiseError("give the model (for Azure: the deployment name)")
    api_key_env = api_key_env or DEFAULT_KEY_ENV[provider]
    if not ENV_NAME.match(api_key_env):
        raise LabelwiseError(
            f"the key variable {api_key_env[:4]}... is not an environment variable name; give "
            "the variable's name (the key itself is never stored)"
        )
    check_key_env(api_key_env, Settings().key_env_names())
    for value, flag in ((rpm, "requests per minute"), (tpm, "tokens per minute")):
        if value is not None and value <= 0:
            raise LabelwiseError(f"{flag} must be positive")
    if session.scalar(select(LlmConnection.id).where(LlmConnection.name == name)) is not None:
        raise Conflict(
            f"an LLM connection named {name!r} already exists; edit it, or pick another name"
        )
    row = LlmConnection(
        name=name,
        provider=provider,
        endpoint=endpoint.rstrip("/"),
        model=model.strip(),
        api_version=api_version,
        api_key_env=api_key_env,
        price_model=price_model,
        rpm=rpm,
        tpm=tpm,
    )
    session.add(row)
    session.flush()
    return row


EDITABLE = ("endpoint", "model", "api_version", "api_key_env", "price_model", "rpm", "tpm")


def edit_connection(session: Session, name: str, **changes: Any) -> LlmConnection:
    """Change some settings of a connection; the result is checked as a new one would be."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise LabelwiseError(f"cannot change {', '.join(sorted(unknown))} of a connection")
    row = get_connection(session, name)
    current: dict[str, Any] = {k: getattr(row, k) for k in EDITABLE}
    current.update({k: v for k, v in changes.items() if v is not None})
    provider = row.provider
    session.delete(row)
    session.flush()
    return add_connection(session, name, provider, **current)


def get_connection(session: Session, name: str) -> LlmConnection:
    row = session.scalar(select(LlmConnection).where(LlmConnection.name == name))
    if row is None:
        known = session.scalars(select(LlmConnection.name).order_by(LlmConnection.name)).all()
        hint = (
            f"; connections are: {', '.join(known)}"
            if known
            else ("; add one with `labelwise llm add`")
        )
        raise NotFound(f"no LLM connection named {name!r}{hint}")
    return row


def list_connections(session: Session) -> list[LlmConnection]:
    return list(session.scalars(select(LlmConnection).order_by(LlmConnection.name)))


def remove_connection(session: Session, name: str) -> None:
    session.delete(get_connection(session, name))
    session.flush()


def public(row: LlmConnection) -> dict[str, Any]:
    """What may be shown anywhere: everything stored (there is no secret in it)."""
    return {
        "name": row.name,
        "provider": row.provider,
        "endpoint": row.endpoint,
        "model": row.model,
        "api_version": row.api_version,
        "api_key_env": row.api_key_env,
        "price_model": row.price_model or row.model,
        "rpm": row.rpm,
        "tpm": row.tpm,
    }
