"""projects.encoder: the sentence encoder a project's embeddings come from

Projects made before keep the English encoder they were embedded with; ``project
set-encoder`` changes it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("encoder", sa.String(length=40), server_default="minilm", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("encoder")
