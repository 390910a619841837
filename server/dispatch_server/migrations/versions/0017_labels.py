"""labels and state: message_labels, messages.trashed_at

User labels of received mail (one row per message and label, unique by the label's
casefolded key), and the trash: a state beside the folder, which hides mail from default
listings without moving it (see domain.labels).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_labels",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("inbox_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_labels_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "key", name=op.f("pk_message_labels")),
    )
    op.create_index("ix_message_labels_inbox_key", "message_labels", ["inbox_id", "key"])
    # Nullable without a foreign key: SQLite adds it without copying the table.
    op.add_column("messages", sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("trashed_at")
    op.drop_index("ix_message_labels_inbox_key", table_name="message_labels")
    op.drop_table("message_labels")
