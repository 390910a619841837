"""The retention purge: mail older than DISPATCH_MESSAGE_RETENTION_DAYS is deleted, in
transactions of at most BATCH rows (fewer when the worker finds them slow, see
dispatch_server.worker.retention), so a purge never holds long locks or a long transaction.

Reads stop serving such mail at the cutoff already; the purge frees the space. A received
message goes with its raw MIME, its security verdicts and its artifacts (their foreign keys
cascade); sent mail (`outbound_messages`, not while it is still queued) goes with its events;
dropped-mail records (`inbound_rejections`), feedback kept for audit, and threads whose last
activity is past the cutoff (their mail is, so they hold none any more) go too. What is
deleted is added to `purged_counts`, so the public counters still count it.

On PostgreSQL each batch locks its rows with SKIP LOCKED: workers purging at once take
different rows, and count each once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from dispatch_server.db import dialect
from dispatch_server.db import tables as t

BATCH = 500

_M, _A, _O, _E = t.messages, t.artifacts, t.outbound_messages, t.outbound_events


@attrs.define
class Purged:
    messages: int = 0
    otps: int = 0
    sent: int = 0
    other: int = 0  # dropped-mail records, feedback about unknown mail
    threads: int = 0  # idle threads: no mail, never in the public counters

    @property
    def total(self) -> int:
        """Every row deleted, threads too: the worker drains a step while a batch of it
        is full."""
        return self.messages + self.sent + self.other + self.threads

    def add(self, other: Purged) -> None:
        self.messages += other.messages
        self.otps += other.otps
        self.sent += other.sent
        self.other += other.other
        self.threads += other.threads


def _add_counts(insert: Any) -> Any:
    statement = insert(t.purged_counts).values(kind=sa.bindparam("kind"), count=sa.bindparam("n"))
    return statement.on_conflict_do_update(
        index_elements=[t.purged_counts.c.kind],
        set_={"count": t.purged_counts.c.count + statement.excluded.count},
    )


_ADD_COUNTS = dialect.per_dialect(_add_counts)


def _rows(limit: int | None) -> int:
    return BATCH if limit is None else limit


def purge_messages(
    conn: sa.Connection, cutoff: datetime, door: str | None, limit: int | None = None
) -> Purged:
    """Delete up to `limit` (BATCH) received messages of one door (None: unrecorded) from
    before `cutoff`, through the (door, received_at) index."""
    match = _M.c.door.is_(None) if door is None else _M.c.door == door
    ids = list(
        conn.scalars(
            sa.select(_M.c.id)
            .where(match, _M.c.received_at < cutoff)
            .limit(_rows(limit))
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return Purged()
    otps = conn.scalar(
        sa.select(sa.func.count()).where(_A.c.message_id.in_(ids), _A.c.kind == "otp")
    )
    deleted = conn.execute(_M.delete().where(_M.c.id.in_(ids))).rowcount
    purged = Purged(messages=deleted, otps=int(otps or 0))
    _count(conn, purged)
    return purged


def purge_sent(conn: sa.Connection, cutoff: datetime, limit: int | None = None) -> Purged:
    """Delete up to `limit` (BATCH) sent messages created before `cutoff` (never one still queued),
    with their events."""
    ids = list(
        conn.scalars(
            sa.select(_O.c.id)
            .where(_O.c.created_at < cutoff, _O.c.status != "queued")
            .limit(_rows(limit))
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return Purged()
    return Purged(sent=conn.execute(_O.delete().where(_O.c.id.in_(ids))).rowcount)


def purge_records(conn: sa.Connection, cutoff: datetime, limit: int | None = None) -> Purged:
    """Delete up to `limit` (BATCH) dropped-mail records, as many feedback records about
    unknown mail and as many idle threads."""
    rejections = t.inbound_rejections
    old = sa.select(rejections.c.id).where(rejections.c.created_at < cutoff).limit(_rows(limit))
    deleted = conn.execute(rejections.delete().where(rejections.c.id.in_(old))).rowcount
    orphans = (
        sa.select(_E.c.id)
        .where(_E.c.outbound_message_id.is_(None), _E.c.occurred_at < cutoff)
        .limit(_rows(limit))
    )
    deleted += conn.execute(_E.delete().where(_E.c.id.in_(orphans))).rowcount
    # Not in purged_counts: a thread is no mail. Its Message-IDs (thread_refs) cascade.
    threads = t.threads
    idle = sa.select(threads.c.id).where(threads.c.last_activity_at < cutoff).limit(_rows(limit))
    idle_deleted = conn.execute(threads.delete().where(threads.c.id.in_(idle))).rowcount
    return Purged(other=deleted, threads=idle_deleted)


def _count(conn: sa.Connection, purged: Purged) -> None:
    statement = _ADD_COUNTS[dialect.name(conn)]
    for kind, n in (("messages", purged.messages), ("otps", purged.otps)):
        if n:
            conn.execute(statement, {"kind": kind, "n": n})
