"""Daily quotas per workspace, taken atomically so concurrent requests never overrun them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from dispatch_server.core.errors import QuotaExceeded
from dispatch_server.db import dialect
from dispatch_server.db import tables as t


def _take_one_statement(insert: Any, counter: str) -> Any:
    """Open today's row with `counter` at 1, or add 1 while under the limit: one statement, so
    concurrent requests cannot both take the last unit. rowcount is 0 when it is used up."""
    counters = {"inbound_count": 0, "sent_count": 0, "unique_recipient_count": 0}
    statement = insert(t.workspace_quotas).values(
        workspace_id=sa.bindparam("ws"), day=sa.bindparam("today"), **{**counters, counter: 1}
    )
    column = t.workspace_quotas.c[counter]
    return statement.on_conflict_do_update(
        index_elements=[t.workspace_quotas.c.workspace_id, t.workspace_quotas.c.day],
        set_={counter: column + 1},
        where=column < sa.bindparam("quota_limit"),
    )


# Built once: building statements per message cost more than SQLite took to run them.
_TAKE_INBOUND = dialect.per_dialect(lambda insert: _take_one_statement(insert, "inbound_count"))


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


_TAKE_SEND = dialect.per_dialect(lambda insert: _take_one_statement(insert, "sent_count"))
_NEW_RECIPIENT = dialect.per_dialect(
    lambda insert: insert(t.workspace_quota_recipients).on_conflict_do_nothing()
)
_ADD_RECIPIENTS = (
    t.workspace_quotas.update()
    .where(
        t.workspace_quotas.c.workspace_id == sa.bindparam("ws"),
        t.workspace_quotas.c.day == sa.bindparam("today"),
        t.workspace_quotas.c.unique_recipient_count + sa.bindparam("new")
        <= sa.bindparam("quota_limit"),
    )
    .values(
        unique_recipient_count=t.workspace_quotas.c.unique_recipient_count + sa.bindparam("new")
    )
)


def seconds_until_reset(now: datetime) -> int:
    """Seconds from `now` to the next 00:00 UTC, when every daily quota starts again."""
    tomorrow = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def take_send(
    conn: sa.Connection,
    workspace_id: str,
    recipients: Iterable[str],
    *,
    now: datetime,
    send_limit: int,
    recipient_limit: int,
) -> None:
    """Count one send and its recipients not yet seen today against the day's quotas, or
    raise QuotaExceeded naming the quota (`daily_sends`, `daily_recipients`) with the
    seconds until it resets. The caller's transaction must roll back on the error: the
    send's unit is taken first. On PostgreSQL the first statement locks the workspace's
    row for the day until commit, so concurrent sends take their turn and never overrun."""
    today = now.astimezone(UTC).date()
    params = {"ws": workspace_id, "today": today}
    if send_limit <= 0 or (
        conn.execute(_TAKE_SEND[dialect.name(conn)], {**params, "quota_limit": send_limit}).rowcount
        != 1
    ):
        raise _sends_used_up(send_limit, now)
    insert = _NEW_RECIPIENT[dialect.name(conn)]
    new = sum(
        conn.execute(insert, {"workspace_id": workspace_id, "day": today, "recipient": r}).rowcount
        for r in sorted(set(recipients))
    )
    if (
        new
        and conn.execute(
            _ADD_RECIPIENTS, {**params, "new": new, "quota_limit": recipient_limit}
        ).rowcount
        != 1
    ):
        raise _recipients_used_up(new, recipient_limit, now)


def check_send(
    conn: sa.Connection,
    workspace_id: str,
    recipients: Iterable[str],
    *,
    now: datetime,
    send_limit: int,
    recipient_limit: int,
) -> None:
    """Raise the QuotaExceeded `take_send` would, reading only: advice, which take_send
    checks again."""
    today = now.astimezone(UTC).date()
    quota = t.workspace_quotas.c
    row = conn.execute(
        sa.select(quota.sent_count, quota.unique_recipient_count).where(
            quota.workspace_id == workspace_id, quota.day == today
        )
    ).first()
    sent, unique = (row.sent_count, row.unique_recipient_count) if row else (0, 0)
    if sent >= send_limit:
        raise _sends_used_up(send_limit, now)
    wanted = set(recipients)
    seen = t.workspace_quota_recipients.c
    known = conn.scalars(
        sa.select(seen.recipient).where(
            seen.workspace_id == workspace_id, seen.day == today, seen.recipient.in_(wanted)
        )
    )
    new = len(wanted - set(known))
    if new and unique + new > recipient_limit:
        raise _recipients_used_up(new, recipient_limit, now)


def _sends_used_up(limit: int, now: datetime) -> QuotaExceeded:
    return QuotaExceeded(
        f"the workspace's {limit} sends for today are used up",
        param="daily_sends",
        retry_after_seconds=seconds_until_reset(now),
    )


def _recipients_used_up(new: int, limit: int, now: datetime) -> QuotaExceeded:
    return QuotaExceeded(
        f"this send has {new} new recipient(s) today, past the workspace's {limit} distinct "
        "recipients a day",
        param="daily_recipients",
        retry_after_seconds=seconds_until_reset(now),
    )
