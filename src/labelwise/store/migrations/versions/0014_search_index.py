"""search index (FTS5 trigram on SQLite, up to a watermark; pg_trgm GIN on PostgreSQL), and
indexes for the first page of a list at a million documents

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 17:00:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from labelwise.store.search import PG_INDEX, SQLITE_DROP, SQLITE_SCHEMA

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

log = logging.getLogger("labelwise.store")


def _trigram_opclass(bind: sa.Connection) -> str | None:
    """The schema-qualified ``gin_trgm_ops``, installing pg_trgm when the server offers it."""
    if bind.scalar(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")):
        try:
            with bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        except sa.exc.DBAPIError as exc:  # not allowed to: search scans, as before
            log.warning("search stays a scan: pg_trgm could not be installed (%s)", exc.orig)
    schema = bind.scalar(
        sa.text(
            "SELECT n.nspname FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace "
            "WHERE c.opcname = 'gin_trgm_ops'"
        )
    )
    return f'"{schema}".gin_trgm_ops' if schema else None


def upgrade() -> None:
    op.create_index("ix_documents_project_id", "documents", ["project_id", "id"])
    op.create_index("ix_suggestions_status_confidence", "suggestions", ["status", "confidence"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        try:
            with bind.begin_nested():
                for statement in SQLITE_SCHEMA:
                    bind.execute(sa.text(statement))
        except sa.exc.OperationalError as exc:  # an SQLite built without FTS5: search scans
            log.warning("search stays a scan: no FTS5 trigram index (%s)", exc.orig)
    elif bind.dialect.name == "postgresql":
        opclass = _trigram_opclass(bind)
        if opclass:
            bind.execute(
                sa.text(f"CREATE INDEX {PG_INDEX} ON documents USING gin (text {opclass})")
            )


def downgrade() -> None:
    op.drop_index("ix_suggestions_status_confidence", "suggestions")
    op.drop_index("ix_documents_project_id", "documents")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DROP:
            bind.execute(sa.text(statement))
    elif bind.dialect.name == "postgresql":
        bind.execute(sa.text(f"DROP INDEX IF EXISTS {PG_INDEX}"))
