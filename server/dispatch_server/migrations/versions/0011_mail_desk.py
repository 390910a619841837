"""mail desk: messages.read_at, and the console's used form nonces

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable column: SQLite adds it without rebuilding the table.
    op.add_column("messages", sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "console_form_submissions",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["users.id"],
            name=op.f("fk_console_form_submissions_operator_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_console_form_submissions")),
    )
    with op.batch_alter_table("console_form_submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_console_form_submissions_created_at", ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_form_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_console_form_submissions_created_at")
    op.drop_table("console_form_submissions")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("read_at")
