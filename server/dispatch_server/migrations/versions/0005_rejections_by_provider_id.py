"""dropped inbound mail found by its provider id: a redelivered refusal is recorded once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_rejections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_rejections_provider", ["provider_message_id", "door"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_rejections", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_rejections_provider")
