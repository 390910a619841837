"""restricted keys: api_keys.expires_at, permissions and allowed_senders

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain nullable columns (null: not restricted), added without rebuilding the table.
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("permissions", sa.JSON(), nullable=True))
    op.add_column("api_keys", sa.Column("allowed_senders", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("allowed_senders")
        batch_op.drop_column("permissions")
        batch_op.drop_column("expires_at")
