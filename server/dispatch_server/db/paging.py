"""Keyset pagination over (time, id): one page of rows and the cursor of the next one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dispatch_server.core.pagination import Cursor, CursorKind
from dispatch_server.db.tables import UtcDateTime


def after(table: sa.Table, cursor: Cursor, *, time_column: str = "received_at") -> Any:
    """Rows strictly after `cursor` in ascending (time, id) order."""
    return _position(table, time_column) > _bound(cursor)


def _bound(cursor: Cursor) -> sa.Tuple:
    return sa.tuple_(sa.literal(cursor.at, UtcDateTime()), sa.literal(cursor.id))


def _position(table: sa.Table, time_column: str) -> sa.Tuple:
    return sa.tuple_(table.c[time_column], table.c.id)


def page(
    conn: sa.Connection,
    query: sa.Select[Any],
    table: sa.Table,
    kind: CursorKind,
    *,
    limit: int,
    cursor: Cursor | None,
    time_column: str = "received_at",
    newest_first: bool = True,
) -> tuple[list[sa.Row[Any]], Cursor | None]:
    """One page in (time, id) order, newest or oldest first, and the cursor of the next page.
    Fetches one row more than asked for, to know whether there is a next page."""
    position = _position(table, time_column)
    if cursor is not None:
        bound = _bound(cursor)
        query = query.where(position < bound if newest_first else position > bound)
    order = (table.c[time_column], table.c.id)
    query = query.order_by(*(c.desc() for c in order) if newest_first else order).limit(limit + 1)
    rows = list(conn.execute(query))
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        return rows, Cursor(kind, getattr(last, time_column), last.id)
    return rows, None
