"""Daily quotas per workspace, taken atomically so concurrent requests never overrun them."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from dispatch_server.db import dialect
from dispatch_server.db import tables as t


def _take_inbound_statement(insert: Any) -> Any:
    """Open today's row at 1, or add 1 while under the limit: one statement, so concurrent
    ingests cannot both take the last unit. rowcount is 0 when the quota is used up."""
    statement = insert(t.workspace_quotas).values(
        workspace_id=sa.bindparam("ws"),
        day=sa.bindparam("today"),
        inbound_count=1,
        sent_count=0,
        unique_recipient_count=0,
    )
    return statement.on_conflict_do_update(
        index_elements=[t.workspace_quotas.c.workspace_id, t.workspace_quotas.c.day],
        set_={"inbound_count": t.workspace_quotas.c.inbound_count + 1},
        where=t.workspace_quotas.c.inbound_count < sa.bindparam("quota_limit"),
    )


# Built once: building statements per message cost more than SQLite took to run them.
_TAKE_INBOUND = dialect.per_dialect(_take_inbound_statement)


def take_inbound(conn: sa.Connection, workspace_id: str, day: date, limit: int) -> bool:
    """Count one inbound message against the day's quota; False when it is used up."""
    if limit <= 0:
        return False
    statement = _TAKE_INBOUND[dialect.name(conn)]
    result = conn.execute(statement, {"ws": workspace_id, "today": day, "quota_limit": limit})
    return result.rowcount == 1


def inbound_left(used_today: int | None, limit: int) -> int:
    """What is left of the day's inbound quota, given its row's count (None: no row yet)."""
    return limit - (used_today or 0)
