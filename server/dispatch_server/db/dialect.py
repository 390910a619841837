"""The SQL that differs between SQLite and PostgreSQL, kept in one place."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

_INSERTS = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def name(conn: sa.Connection) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


def per_dialect(build: Any) -> dict[str, Any]:
    """`build(insert)` for each dialect's INSERT (both have ON CONFLICT), by dialect name: for
    statements built once at import and picked per connection with `name(conn)`."""
    return {dialect: build(insert) for dialect, insert in _INSERTS.items()}


_NOTIFICATIONS = "dispatch_pg_notifications"


def notify(conn: sa.Connection, channel: str, payloads: list[str]) -> None:
    """PostgreSQL: a NOTIFY per payload, sent once the transaction committed (see
    `take_notifications`). SQLite has one process, whose waiters are woken in-process."""
    if conn.dialect.name != "postgresql":
        return
    pending: dict[tuple[str, str], None] = conn.info.setdefault(_NOTIFICATIONS, {})
    for payload in payloads:
        pending[(channel, payload)] = None


def take_notifications(conn: sa.Connection) -> list[tuple[str, str]]:
    """The (channel, payload) pairs `notify` left on this connection, once each, in order.

    They are sent after the commit, in a transaction of their own, rather than as NOTIFY in
    the transaction that wrote: PostgreSQL commits every transaction that notifies one at a
    time, holding one lock for the whole database across its commit and its WAL flush, so
    notifying ingests could not share a flush and queued behind each other (the
    `Lock:object` waits of bench/scale_out.py). The cost: a process that dies between the
    two commits announces nothing, and its mail is found by the waits' periodic recheck
    and the streams' heartbeat read instead."""
    pending: dict[tuple[str, str], None] = conn.info.pop(_NOTIFICATIONS, {})
    return list(pending)


# A SELECT list takes at most 1,664 entries; an ingest notifies once per inbox it stored to.
_CALLS_PER_SELECT = 500


def notifications_sql(notifications: list[tuple[str, str]]) -> str:
    """One round trip that sends `notifications` in their own transaction, which need not
    wait for its WAL flush (a lost notification is recovered as a missed one is)."""
    calls = [
        f"pg_notify({_literal(channel)}, {_literal(payload)})" for channel, payload in notifications
    ]
    selects = "".join(
        f"SELECT {', '.join(calls[start : start + _CALLS_PER_SELECT])}; "
        for start in range(0, len(calls), _CALLS_PER_SELECT)
    )
    return f"BEGIN; SET LOCAL synchronous_commit TO OFF; {selects}COMMIT"


def _literal(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a notification cannot carry NUL")
    escaped = text.replace("\\", "\\\\").replace("'", "''")
    return f"E'{escaped}'"  # an escape string: the same whatever standard_conforming_strings


def blob_slice(column: sa.ColumnElement[bytes], start: int, length: int) -> sa.ColumnElement[bytes]:
    """`length` bytes of a binary column from byte `start` (0-based), read without the rest:
    both SQLite (on a BLOB) and PostgreSQL (on a bytea, which reads only the TOAST chunks
    up to the slice) spell it `substr(value, start + 1, length)`, counting from 1."""
    return sa.func.substr(column, start + 1, length, type_=sa.LargeBinary())


def locking(conn: sa.Connection, query: sa.Select[Any], *, share: bool = False) -> sa.Select[Any]:
    """`query` locking the rows it reads until the transaction ends: on PostgreSQL `FOR
    SHARE` (`share`: others may read and share-lock them, not change or delete them) or `FOR
    UPDATE`. SQLite takes no row locks: its writes run one at a time (BEGIN IMMEDIATE), so
    a row read in a write transaction cannot change before it commits."""
    if conn.dialect.name != "postgresql":
        return query
    return query.with_for_update(read=share)
