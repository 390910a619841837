"""What the ops views read from the database: ingest activity per door, and the public
counters."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import sqlalchemy as sa

from dispatch_server.db import tables as t
from dispatch_server.ingest.pipeline import DOORS

LAST_HOUR = timedelta(hours=1)
UNRECORDED = "unrecorded"  # messages whose door was not recorded (stored before 0004...)

_M = t.messages
_LAST = sa.select(sa.func.max(_M.c.received_at))
_COUNT = sa.select(sa.func.count()).select_from(_M)


@attrs.frozen(kw_only=True)
class DoorActivity:
    door: str
    last_ingest_at: datetime | None
    last_hour: int


def door_activity(conn: sa.Connection, now: datetime) -> list[DoorActivity]:
    """For each door: when it last stored a message, and how many in the last hour. Each
    query reads the (door, received_at) index: the table is not scanned."""
    since = now - LAST_HOUR
    found = []
    for door in (*DOORS, None):
        match = _M.c.door.is_(None) if door is None else _M.c.door == door
        last = conn.scalar(_LAST.where(match))
        if door is None and last is None:
            continue
        count = conn.scalar(_COUNT.where(match, _M.c.received_at >= since)) or 0
        found.append(DoorActivity(door=door or UNRECORDED, last_ingest_at=last, last_hour=count))
    return found


@attrs.frozen(kw_only=True)
class PublicCounters:
    inboxes_created: int
    messages_received: int
    otps_extracted: int


def public_counters(conn: sa.Connection) -> PublicCounters:
    """Inboxes (never deleted), messages stored ever (the daily inbound quota counters, which
    the retention purge leaves alone), and OTPs extracted ever (those still stored, plus
    those the purge deleted)."""
    inboxes = conn.scalar(sa.select(sa.func.count()).select_from(t.inboxes)) or 0
    messages = conn.scalar(sa.select(sa.func.sum(t.workspace_quotas.c.inbound_count))) or 0
    otps = (
        conn.scalar(
            sa.select(sa.func.count()).select_from(t.artifacts).where(t.artifacts.c.kind == "otp")
        )
        or 0
    )
    purged = conn.scalar(sa.select(t.purged_counts.c.count).where(t.purged_counts.c.kind == "otps"))
    return PublicCounters(
        inboxes_created=int(inboxes),
        messages_received=int(messages),
        otps_extracted=int(otps) + int(purged or 0),
    )
