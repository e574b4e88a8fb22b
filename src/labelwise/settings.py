"""Configuration from the environment (prefix ``LABELWISE_``); nothing is read at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where labelwise keeps its data.

    ``LABELWISE_HOME`` holds the default SQLite database; ``LABELWISE_DATABASE_URL`` points at
    another database (``postgresql://user@host/db``) and wins when set. ``LABELWISE_MODELS``
    holds the models labelwise makes from installed ones (default: ``models`` under the home),
    so that several homes can share them.
    """

    model_config = SettingsConfigDict(env_prefix="LABELWISE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".labelwise")
    database_url: str | None = None
    models: Path | None = None
    api_token: SecretStr | None = None  # required to serve on anything but loopback
    allowed_hosts: str = ""  # comma-separated names the server answers to, beside its address
    allowed_key_envs: str = ""  # comma-separated key variables allowed beside *_API_KEY
    batch_poll: float = Field(30.0, gt=0)  # seconds between looks at a Batch API job's batch

    def models_folder(self) -> Path:
        return (self.models or self.home / "models").expanduser()

    def host_names(self) -> list[str]:
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]

    def key_env_names(self) -> list[str]:
        return [h.strip() for h in self.allowed_key_envs.split(",") if h.strip()]

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL to open: the configured one, else the SQLite file under ``home``."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.home.expanduser() / 'labelwise.db'}"


def normalize_database_url(url: str) -> str:
    """Map plain ``postgresql://`` / ``postgres://`` URLs to the psycopg 3 driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
