"""Memory: small values an inbox keeps by sending mail to itself, the subject the key and the
text the value. Reads look only at mail the inbox sent itself through this server (its
outbound rows), never at what arrived from outside, so nobody can write an inbox's memory
by mailing it a subject. The latest write of a key wins; writes that were refused or failed
do not count."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from dispatch_client.extract.html import html_to_text
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.domain.sends import SendStatus

MAX_KEYS = 1000  # the keys one listing shows
_SENDS = t.outbound_messages.c
# Writes that never went anywhere are no memory.
NOT_KEPT: tuple[SendStatus, ...] = ("rejected", "failed", "suppressed", "blocked", "bounced")
_WRITTEN = _SENDS.status.not_in(NOT_KEPT)


@attrs.frozen(kw_only=True)
class MemoryEntry:
    key: str
    value: str
    written_at: datetime
    sent_id: str  # the sent message that wrote it


@attrs.frozen(kw_only=True)
class MemoryKey:
    key: str
    updated_at: datetime


def _entry(row: Any) -> MemoryEntry:
    value = row.text_body if row.text_body is not None else html_to_text(row.html_body or "")
    return MemoryEntry(key=row.memory_key, value=value, written_at=row.created_at, sent_id=row.id)


def _writes(inbox_id: str, key: str, cutoff: datetime) -> sa.Select[Any]:
    return sa.select(
        _SENDS.id, _SENDS.memory_key, _SENDS.text_body, _SENDS.html_body, _SENDS.created_at
    ).where(
        _SENDS.inbox_id == inbox_id,
        _SENDS.memory_key == key,
        _SENDS.created_at >= cutoff,
        _WRITTEN,
    )


def read(conn: sa.Connection, inbox_id: str, key: str, *, cutoff: datetime) -> MemoryEntry | None:
    """The latest value written for `key` (exact subject), or None."""
    row = conn.execute(
        _writes(inbox_id, key, cutoff).order_by(_SENDS.created_at.desc(), _SENDS.id.desc()).limit(1)
    ).first()
    return None if row is None else _entry(row)


def history(
    conn: sa.Connection,
    inbox_id: str,
    key: str,
    *,
    cutoff: datetime,
    limit: int,
    cursor: Cursor | None,
) -> Page[MemoryEntry]:
    """Every value written for `key`, newest first."""
    rows, next_cursor = page(
        conn,
        _writes(inbox_id, key, cutoff),
        t.outbound_messages,
        "memory",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
    )
    return Page([_entry(row) for row in rows], next_cursor)


def keys(conn: sa.Connection, inbox_id: str, *, cutoff: datetime) -> list[MemoryKey]:
    """The inbox's keys, most recently written first (at most MAX_KEYS)."""
    latest = sa.func.max(_SENDS.created_at).label("updated_at")
    rows = conn.execute(
        sa.select(_SENDS.memory_key, latest)
        .where(
            _SENDS.inbox_id == inbox_id,
            _SENDS.memory_key.is_not(None),
            _SENDS.created_at >= cutoff,
            _WRITTEN,
        )
        .group_by(_SENDS.memory_key)
        .order_by(latest.desc(), _SENDS.memory_key)
        .limit(MAX_KEYS)
    )
    return [MemoryKey(key=row.memory_key, updated_at=row.updated_at) for row in rows]
