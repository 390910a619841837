"""Inbound mail that was dropped, kept for operators: doors that cannot refuse mail to its
sender (SES already accepted it) record what they drop and why, instead of retrying it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.core.ids import new_id
from dispatch_server.db import tables as t

MAX_DETAIL_CHARS = 1000
MAX_RECIPIENTS_KEPT = 20

BUCKET_MISMATCH = "bucket_mismatch"  # the other reasons are error codes (unknown_recipient...)


@attrs.frozen(kw_only=True)
class Rejection:
    door: str
    reason: str
    provider_message_id: str | None = None
    location: str | None = None
    recipients: Sequence[str] = ()
    size_bytes: int | None = None
    detail: str | None = None


_RECORDED = sa.select(t.inbound_rejections.c.id).where(
    t.inbound_rejections.c.provider_message_id == sa.bindparam("provider_message_id"),
    t.inbound_rejections.c.door == sa.bindparam("door"),
    t.inbound_rejections.c.reason == sa.bindparam("reason"),
)


def record(conn: sa.Connection, rejection: Rejection, now: datetime) -> bool:
    """Record a dropped message; False (nothing recorded) when the same door dropped the same
    provider message for the same reason before: a redelivery of what was dropped."""
    provider_id = _clip(rejection.provider_message_id, t.PROVIDER_MESSAGE_ID_LENGTH)
    reason = rejection.reason[:40]
    if provider_id is not None:
        params = {"provider_message_id": provider_id, "door": rejection.door, "reason": reason}
        if conn.execute(_RECORDED, params).first() is not None:
            return False
    conn.execute(
        t.inbound_rejections.insert().values(
            id=new_id(),
            door=rejection.door,
            reason=reason,
            provider_message_id=provider_id,
            location=_clip(rejection.location, 2000),
            recipients=[r[:320] for r in rejection.recipients[:MAX_RECIPIENTS_KEPT]],
            size_bytes=rejection.size_bytes,
            detail=_clip(rejection.detail, MAX_DETAIL_CHARS),
            created_at=now,
        )
    )
    return True


def counts_since(conn: sa.Connection, since: datetime) -> dict[str, dict[str, int]]:
    """Rejections since `since`, by door and reason."""
    table = t.inbound_rejections
    rows = conn.execute(
        sa.select(table.c.door, table.c.reason, sa.func.count())
        .where(table.c.created_at >= since)
        .group_by(table.c.door, table.c.reason)
    )
    counts: dict[str, dict[str, int]] = {}
    for door, reason, count in rows:
        counts.setdefault(door, {})[reason] = count
    return counts


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None
