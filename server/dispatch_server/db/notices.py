"""Notices a write transaction leaves for after its commit: topics (strings) that listeners of
`Database.on_commit` hear once the transaction committed, and never if it rolled back. The
event log leaves one per workspace it wrote to, so that event streams in this process wake."""

from __future__ import annotations

import sqlalchemy as sa

_KEY = "dispatch_notices"


def leave(conn: sa.Connection, topic: str) -> None:
    conn.info.setdefault(_KEY, set()).add(topic)


def take(conn: sa.Connection) -> set[str]:
    found: set[str] = conn.info.pop(_KEY, set())
    return found
