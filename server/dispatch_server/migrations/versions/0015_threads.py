"""threads: threads, thread_refs, messages.thread_id, outbound_messages.thread_id

Mail stored before this revision is threaded here, set-based: each received message of the
inbox folder (as at ingest: not spam, nor memory writes) starts a thread of its own (its id
is the thread's), a sent reply joins the thread of the message it answers, any other send
(but memory writes) starts one, and every Message-ID among them is registered, so later
replies to that mail join its thread. Earlier replies among themselves are not regrouped:
their References were never stored.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("inbox_id", sa.String(length=36), nullable=False),
        sa.Column("subject_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inboxes.id"],
            name=op.f("fk_threads_inbox_id_inboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_threads_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
    )
    op.create_index("ix_threads_inbox_activity", "threads", ["inbox_id", "last_activity_at", "id"])
    op.create_index(
        "ix_threads_inbox_subject", "threads", ["inbox_id", "subject_key", "last_activity_at"]
    )
    op.create_index("ix_threads_activity", "threads", ["last_activity_at"])
    op.create_table(
        "thread_refs",
        sa.Column("inbox_id", sa.String(length=36), nullable=False),
        sa.Column("message_id_header", sa.String(length=998), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inboxes.id"],
            name=op.f("fk_thread_refs_inbox_id_inboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_refs_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("inbox_id", "message_id_header", name=op.f("pk_thread_refs")),
    )
    op.create_index(op.f("ix_thread_refs_thread_id"), "thread_refs", ["thread_id"])
    # Nullable columns without a foreign key: SQLite adds them without copying the table.
    op.add_column("messages", sa.Column("thread_id", sa.String(length=36), nullable=True))
    op.create_index("ix_messages_thread_received", "messages", ["thread_id", "received_at"])
    op.add_column("outbound_messages", sa.Column("thread_id", sa.String(length=36), nullable=True))
    op.create_index(
        "ix_outbound_messages_thread_created", "outbound_messages", ["thread_id", "created_at"]
    )
    _backfill()


def _backfill() -> None:
    received = """
        SELECT m.id, m.workspace_id, m.inbox_id, m.received_at FROM messages m
        JOIN message_security s ON s.message_id = m.id WHERE s.folder = 'inbox'
    """
    op.execute(
        "INSERT INTO threads (id, workspace_id, inbox_id, subject_key, created_at, "
        f"last_activity_at) SELECT id, workspace_id, inbox_id, NULL, received_at, received_at "
        f"FROM ({received}) r"
    )
    op.execute("UPDATE messages SET thread_id = id WHERE id IN (SELECT id FROM threads)")
    op.execute(
        "UPDATE outbound_messages SET thread_id = in_reply_to WHERE memory_key IS NULL "
        "AND in_reply_to IN (SELECT id FROM threads)"
    )
    op.execute(
        "INSERT INTO threads (id, workspace_id, inbox_id, subject_key, created_at, "
        "last_activity_at) SELECT id, workspace_id, inbox_id, NULL, created_at, created_at "
        "FROM outbound_messages WHERE memory_key IS NULL AND thread_id IS NULL"
    )
    op.execute(
        "UPDATE outbound_messages SET thread_id = id WHERE memory_key IS NULL AND thread_id IS NULL"
    )
    op.execute(
        "UPDATE threads SET last_activity_at = (SELECT MAX(o.created_at) FROM "
        "outbound_messages o WHERE o.thread_id = threads.id) WHERE EXISTS (SELECT 1 FROM "
        "outbound_messages o WHERE o.thread_id = threads.id "
        "AND o.created_at > threads.last_activity_at)"
    )
    # Only ids as domain.threads registers them: one <...> of printable ASCII (PostgreSQL's
    # index entries hold about 2700 bytes, a 998-character header of UTF-8 would not fit).
    ascii_only = (
        "octet_length(message_id_header) = length(message_id_header)"
        if op.get_bind().dialect.name == "postgresql"
        else "1 = 1"
    )
    ids = """
        SELECT inbox_id, message_id_header, thread_id FROM messages
        WHERE thread_id IS NOT NULL AND message_id_header IS NOT NULL
        UNION ALL
        SELECT inbox_id, message_id_header, thread_id FROM outbound_messages
        WHERE thread_id IS NOT NULL
    """
    op.execute(
        "INSERT INTO thread_refs (inbox_id, message_id_header, thread_id) "
        f"SELECT inbox_id, message_id_header, MIN(thread_id) FROM ({ids}) i "
        "WHERE message_id_header LIKE '<%>' AND length(message_id_header) <= 902 "
        f"AND {ascii_only} GROUP BY inbox_id, message_id_header"
    )


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_thread_created", table_name="outbound_messages")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("thread_id")
    op.drop_index("ix_messages_thread_received", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("thread_id")
    op.drop_index(op.f("ix_thread_refs_thread_id"), table_name="thread_refs")
    op.drop_table("thread_refs")
    op.drop_index("ix_threads_activity", table_name="threads")
    op.drop_index("ix_threads_inbox_subject", table_name="threads")
    op.drop_index("ix_threads_inbox_activity", table_name="threads")
    op.drop_table("threads")
