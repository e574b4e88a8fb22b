"""suggestions.decided_by: a person's decision, or an acceptance above a threshold

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(
            sa.Column("decided_by", sa.String(length=20), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_column("decided_by")
