"""codes used once: artifacts.consumed_at, lease_expires_at, lease_id and consumed_by

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain nullable columns (null: never consumed), added without rebuilding the table.
    op.add_column("artifacts", sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "artifacts", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("artifacts", sa.Column("lease_id", sa.String(length=36), nullable=True))
    op.add_column("artifacts", sa.Column("consumed_by", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_column("consumed_by")
        batch_op.drop_column("lease_id")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("consumed_at")
