"""llm connections

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 03:13:54.825574
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("api_version", sa.String(length=40), nullable=False),
        sa.Column("api_key_env", sa.String(length=100), nullable=False),
        sa.Column("price_model", sa.String(length=200), nullable=False),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "provider in ('azure', 'openai')", name=op.f("ck_llm_connections_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_llm_connections_name")),
    )
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confidence_source", sa.String(length=40), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_column("confidence_source")

    op.drop_table("llm_connections")
