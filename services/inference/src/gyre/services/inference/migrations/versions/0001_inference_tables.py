"""inference tables: deployments, deployment history, model versions

Revision ID: inference_0001
Revises: (none)
Create Date: 2026-11-29 09:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inference_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inference_deployments",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("registered_model", sa.String(length=200), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_inference_deployments")),
    )
    op.create_index(
        op.f("ix_inference_deployments_registered_model"),
        "inference_deployments",
        ["registered_model"],
        unique=False,
    )
    op.create_table(
        "inference_deployment_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("action", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_deployment_history")),
    )
    op.create_index(
        "ix_inference_history_deployment_id",
        "inference_deployment_history",
        ["deployment", "id"],
        unique=False,
    )
    op.create_table(
        "inference_model_versions",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("fetch_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_inference_model_versions")),
    )


def downgrade() -> None:
    op.drop_table("inference_model_versions")
    op.drop_index("ix_inference_history_deployment_id", table_name="inference_deployment_history")
    op.drop_table("inference_deployment_history")
    op.drop_index(
        op.f("ix_inference_deployments_registered_model"), table_name="inference_deployments"
    )
    op.drop_table("inference_deployments")
