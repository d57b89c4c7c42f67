"""outbox: failed_at marks rows NATS can never accept

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gyre_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_gyre_outbox_pending")
        batch_op.create_index(
            "ix_gyre_outbox_pending", ["published_at", "failed_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("gyre_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_gyre_outbox_pending")
        batch_op.create_index("ix_gyre_outbox_pending", ["published_at", "id"], unique=False)
        batch_op.drop_column("failed_at")
