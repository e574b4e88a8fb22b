"""job status budget_reached

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 11:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD = "('queued', 'running', 'succeeded', 'partially_succeeded', 'failed', 'cancelled')"
NEW = (
    "('queued', 'running', 'succeeded', 'partially_succeeded', 'failed', 'cancelled', "
    "'budget_reached')"
)


def _replace(values: str) -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_jobs_status"), f"status in {values}")


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    op.execute("UPDATE jobs SET status = 'partially_succeeded' WHERE status = 'budget_reached'")
    _replace(OLD)
