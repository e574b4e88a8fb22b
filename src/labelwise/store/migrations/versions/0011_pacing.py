"""the shared slots of connections' rate limits (team mode)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pacing",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pacing")),
    )


def downgrade() -> None:
    op.drop_table("pacing")
