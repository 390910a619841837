"""the inbound worker: heartbeats, the door of each message, dropped inbound mail, purge counts
and the index the purge of sent mail reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _create_index_online(name: str, table: str, columns: list[str]) -> None:
    """An index on a table that may be large and busy (messages, sent mail). PostgreSQL builds
    it CONCURRENTLY, outside the migration's transaction, so ingest and sends go on meanwhile
    (a plain CREATE INDEX blocks every write to the table until it is built); SQLite has one
    writer anyway. A concurrent build that fails leaves an invalid index behind: drop it
    (`DROP INDEX CONCURRENTLY <name>`) before running the migration again."""
    if op.get_context().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(name, table, columns, unique=False, postgresql_concurrently=True)
    else:
        op.create_index(name, table, columns, unique=False)


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("door", sa.String(length=10), nullable=True))
    _create_index_online("ix_messages_door_received", "messages", ["door", "received_at"])
    _create_index_online("ix_outbound_messages_created_at", "outbound_messages", ["created_at"])

    op.create_table(
        "dispatch_worker_heartbeats",
        sa.Column("worker_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("queue_lag_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_dispatch_worker_heartbeats")),
    )
    op.create_table(
        "inbound_rejections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("door", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("provider_message_id", sa.String(length=300), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_rejections")),
    )
    with op.batch_alter_table("inbound_rejections", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_rejections_created_at", ["created_at"], unique=False)

    op.create_table(
        "purged_counts",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_purged_counts")),
    )


def downgrade() -> None:
    op.drop_table("purged_counts")
    with op.batch_alter_table("inbound_rejections", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_rejections_created_at")
    op.drop_table("inbound_rejections")
    op.drop_table("dispatch_worker_heartbeats")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_created_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_door_received")
        batch_op.drop_column("door")
