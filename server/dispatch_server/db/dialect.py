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


def notify(conn: sa.Connection, channel: str, payloads: list[str]) -> None:
    """PostgreSQL: queue a NOTIFY per payload, sent by the server at commit. SQLite has one
    process, whose waiters are woken in-process instead."""
    if conn.dialect.name != "postgresql":
        return
    for payload in payloads:
        conn.execute(sa.select(sa.func.pg_notify(channel, payload)))
