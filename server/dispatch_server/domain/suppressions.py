"""Recipient suppressions: addresses a workspace may no longer send to, after a permanent
bounce or a complaint. Sends to them are refused (dispatch_server.domain.sends); account
keys list and lift them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.mail.addresses import ascii_domain_of

Reason = Literal["bounce", "complaint"]

_COLUMNS = t.recipient_suppressions.c


@attrs.frozen(kw_only=True)
class Suppression:
    address: str
    reason: Reason
    detail: str | None
    outbound_message_id: str | None
    created_at: datetime
    updated_at: datetime


def _upsert_statement(insert: Any) -> Any:
    statement = insert(t.recipient_suppressions)
    return statement.on_conflict_do_update(
        index_elements=[_COLUMNS.workspace_id, _COLUMNS.address],
        set_={
            "reason": statement.excluded.reason,
            "detail": statement.excluded.detail,
            "outbound_message_id": statement.excluded.outbound_message_id,
            "updated_at": statement.excluded.updated_at,
        },
    )


_UPSERT = dialect.per_dialect(_upsert_statement)


def suppress(
    conn: sa.Connection,
    workspace_id: str,
    addresses: list[str],
    *,
    reason: Reason,
    detail: str | None,
    outbound_message_id: str | None,
    now: datetime,
) -> None:
    """Suppress the addresses for the workspace, or refresh their suppression."""
    statement = _UPSERT[dialect.name(conn)]
    for address in sorted({a.lower() for a in addresses}):
        conn.execute(
            statement,
            {
                "id": new_id(),
                "workspace_id": workspace_id,
                "address": address,
                "reason": reason,
                "detail": (detail or None) and detail[:1000],
                "outbound_message_id": outbound_message_id,
                "created_at": now,
                "updated_at": now,
            },
        )


def list_suppressions(
    conn: sa.Connection, workspace_id: str, *, limit: int, cursor: Cursor | None
) -> Page[Suppression]:
    """The workspace's suppressions, newest first."""
    query = sa.select(t.recipient_suppressions).where(_COLUMNS.workspace_id == workspace_id)
    rows, next_cursor = page(
        conn,
        query,
        t.recipient_suppressions,
        "suppression",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
    )
    return Page([_of(row) for row in rows], next_cursor)


def _of(row: Any) -> Suppression:
    return Suppression(
        address=row.address,
        reason=row.reason,
        detail=row.detail,
        outbound_message_id=row.outbound_message_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def lift(conn: sa.Connection, workspace_id: str, address: str) -> Suppression:
    """Lift the address's suppression; the suppression it was (404 when there is none). An
    international domain may be given in Unicode or in punycode."""
    local, _, domain = address.rpartition("@")
    ascii_domain = ascii_domain_of(domain) if local else None
    stored = f"{local}@{ascii_domain}" if ascii_domain else address
    where = (_COLUMNS.workspace_id == workspace_id, _COLUMNS.address == stored.lower())
    row = conn.execute(sa.select(t.recipient_suppressions).where(*where)).first()
    if row is None:
        raise NotFound("suppression")
    conn.execute(t.recipient_suppressions.delete().where(*where))
    return _of(row)
