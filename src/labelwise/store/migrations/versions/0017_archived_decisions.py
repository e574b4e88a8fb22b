"""archived_decisions: what reviewed suggestions said, kept when training deletes them

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archived_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("labeler", sa.String(length=50), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("right", sa.Boolean(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_archived_decisions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archived_decisions")),
    )
    op.create_index("ix_archived_decisions_project", "archived_decisions", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_archived_decisions_project", table_name="archived_decisions")
    op.drop_table("archived_decisions")
