"""trained models

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 03:32:51.532808
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trained_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("arrays", sa.LargeBinary(), nullable=True),
        sa.Column("evaluation", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status in ('training', 'ready', 'failed')", name=op.f("ck_trained_models_status")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_trained_models_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trained_models")),
        sa.UniqueConstraint("project_id", "name", name="uq_trained_models_project_name"),
    )
    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        batch_op.create_index(
            "uq_trained_models_one_training",
            ["project_id"],
            unique=True,
            sqlite_where=sa.text("status = 'training'"),
            postgresql_where=sa.text("status = 'training'"),
        )

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["trained_models.id"],
            name=op.f("fk_deployments_model_id_trained_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_deployments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("project_id", "name", name="uq_deployments_project_name"),
    )


def downgrade() -> None:
    op.drop_table("deployments")
    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_trained_models_one_training",
            sqlite_where=sa.text("status = 'training'"),
            postgresql_where=sa.text("status = 'training'"),
        )

    op.drop_table("trained_models")
