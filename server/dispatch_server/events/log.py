"""The event log: what happened in a workspace, written in the transaction that made it
happen, read back in order by the event streams and the webhook deliveries.

An event is `(seq, type, inbox_id, payload, created_at)`. `seq` is its id: per workspace,
increasing, taken from the workspace's counter row, which the taking transaction holds
locked until it commits. So a workspace's events become visible in `seq` order, and a reader
that has seen event N and asks for what follows N never misses one that commits later with a
lower id. Each append also queues the event's webhook deliveries (one per endpoint that
wants it, see dispatch_server.domain.webhooks) and leaves a commit notice
(`events:<workspace id>`) for this process's streams and, on PostgreSQL, NOTIFYs the other
processes at commit.

Payloads are JSON objects with a documented shape per type (docs/events.md); they carry ids
and the few fields a consumer acts on, not whole messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.core.ids import new_id
from dispatch_server.db import dialect, notices
from dispatch_server.db import tables as t
from dispatch_server.domain import webhooks

TYPES: Final = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
    "message.failed",
    "inbox.created",
    "entitlement.granted",
    "entitlement.revoked",
)
CHANNEL: Final = "dispatch_events"  # PostgreSQL NOTIFY, payload: the workspace id
NOTICE_PREFIX: Final = "events:"
PAGE: Final = 500

_COUNTERS = t.workspace_event_counters
_EVENTS = t.events.c


def _next_seq_statement(insert: Any) -> Any:
    statement = insert(_COUNTERS).values(
        workspace_id=sa.bindparam("workspace_id"), last_seq=1, purged_through=0
    )
    return statement.on_conflict_do_update(
        index_elements=[_COUNTERS.c.workspace_id],
        set_={"last_seq": _COUNTERS.c.last_seq + 1},
    ).returning(_COUNTERS.c.last_seq)


_NEXT_SEQ = dialect.per_dialect(_next_seq_statement)
_INSERT_EVENT = sa.insert(t.events)


@attrs.frozen(kw_only=True)
class Event:
    seq: int
    workspace_id: str
    inbox_id: str | None
    type: str
    payload: dict[str, Any]
    created_at: datetime


class EventsExpired(DomainError):
    """A resume point older than what the log keeps: events after it were purged."""

    code = ErrorCode.EVENTS_EXPIRED


def append(
    conn: sa.Connection,
    *,
    workspace_id: str,
    inbox_id: str | None,
    type: str,
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """Record the event in the caller's transaction; its id."""
    assert type in TYPES, type
    seq = int(
        conn.execute(_NEXT_SEQ[dialect.name(conn)], {"workspace_id": workspace_id}).scalar_one()
    )
    conn.execute(
        _INSERT_EVENT,
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "seq": seq,
            "inbox_id": inbox_id,
            "type": type,
            "payload": payload,
            "created_at": now,
        },
    )
    # The webhook deliveries of the event, in its transaction: committed with it or not at all.
    webhooks.fan_out(
        conn,
        workspace_id=workspace_id,
        seq=seq,
        type=type,
        inbox_id=inbox_id,
        payload=payload,
        now=now,
    )
    notices.leave(conn, NOTICE_PREFIX + workspace_id)
    dialect.notify(conn, CHANNEL, [workspace_id])
    return seq


@attrs.frozen(kw_only=True)
class Slice:
    """Events after a point, and the position a reader has reached with them: the id of the
    last event of the workspace it has looked past (matching its filters or not)."""

    events: list[Event]
    position: int


def read_after(
    conn: sa.Connection,
    workspace_id: str,
    *,
    after: int,
    inbox_id: str | None = None,
    types: Sequence[str] = (),
    limit: int = PAGE,
) -> Slice:
    """The workspace's events after `after` that match, oldest first, and how far that read
    went; `EventsExpired` when some events after `after` were purged.

    The counter is read first: every event up to its value has committed (a workspace's
    events commit in id order), so the events query, a later statement, sees them all, and
    a filtered reader moves past what it did not want. The purge mark is read last: a purge
    that deleted rows before the events query committed its mark before it too."""
    position = latest_seq(conn, workspace_id)
    query = (
        sa.select(t.events)
        .where(_EVENTS.workspace_id == workspace_id, _EVENTS.seq > after, _EVENTS.seq <= position)
        .order_by(_EVENTS.seq)
        .limit(limit)
    )
    if inbox_id is not None:
        query = query.where(_EVENTS.inbox_id == inbox_id)
    if types:
        query = query.where(_EVENTS.type.in_(list(types)))
    events = [
        Event(
            seq=row.seq,
            workspace_id=row.workspace_id,
            inbox_id=row.inbox_id,
            type=row.type,
            payload=row.payload,
            created_at=row.created_at,
        )
        for row in conn.execute(query)
    ]
    purged = conn.scalar(
        sa.select(_COUNTERS.c.purged_through).where(_COUNTERS.c.workspace_id == workspace_id)
    )
    if purged is not None and after < purged:
        raise EventsExpired(
            f"events up to {purged} were purged (kept DISPATCH_EVENT_RETENTION_DAYS); list the "
            "current state again, then follow the stream from its latest id",
            param="after",
        )
    if len(events) == limit:
        position = events[-1].seq  # more to read after this page
    return Slice(events=events, position=max(position, after))


def list_after(
    conn: sa.Connection,
    workspace_id: str,
    *,
    after: int,
    inbox_id: str | None = None,
    types: Sequence[str] = (),
    limit: int = PAGE,
) -> list[Event]:
    """The events of `read_after`."""
    found = read_after(conn, workspace_id, after=after, inbox_id=inbox_id, types=types, limit=limit)
    return found.events


def latest_seq(conn: sa.Connection, workspace_id: str) -> int:
    """The id of the workspace's latest event, 0 before the first."""
    found = conn.scalar(
        sa.select(_COUNTERS.c.last_seq).where(_COUNTERS.c.workspace_id == workspace_id)
    )
    return int(found or 0)


def purge(conn: sa.Connection, *, older_than: datetime, batch: int = 5000) -> int:
    """Delete events created before `older_than`, a batch at a time; remember per workspace
    the highest id purged. The number deleted (call again while it is `batch`)."""
    rows = conn.execute(
        sa.select(_EVENTS.id, _EVENTS.workspace_id, _EVENTS.seq)
        .where(_EVENTS.created_at < older_than)
        .order_by(_EVENTS.created_at)
        .limit(batch)
    ).all()
    if not rows:
        return 0
    highest: dict[str, int] = {}
    for row in rows:
        highest[row.workspace_id] = max(highest.get(row.workspace_id, 0), row.seq)
    conn.execute(sa.delete(t.events).where(_EVENTS.id.in_([row.id for row in rows])))
    for workspace_id, seq in highest.items():
        conn.execute(
            sa.update(_COUNTERS)
            .where(_COUNTERS.c.workspace_id == workspace_id, _COUNTERS.c.purged_through < seq)
            .values(purged_through=seq)
        )
    return len(rows)
