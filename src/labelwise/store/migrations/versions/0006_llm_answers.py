"""llm answers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 04:08:01.029469
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_answers")),
        sa.UniqueConstraint("key", name=op.f("uq_llm_answers_key")),
    )


def downgrade() -> None:
    op.drop_table("llm_answers")
