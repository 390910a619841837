"""API keys as a workspace manages them: minting, listing and revoking an inbox's keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from dispatch_server.auth.api_keys import mint_key
from dispatch_server.auth.principal import KeyKind
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import NotFound
from dispatch_server.core.ids import is_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.domain.inboxes import get_inbox


@attrs.frozen(kw_only=True)
class Restrictions:
    """What an inbox key is narrowed to when minted (see auth.policy); None: no limit."""

    expires_at: datetime | None = None
    permissions: tuple[str, ...] | None = None
    allowed_senders: tuple[str, ...] | None = None


NO_RESTRICTIONS = Restrictions()


@attrs.frozen(kw_only=True)
class InboxKey:
    id: str
    inbox_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    permissions: tuple[str, ...] | None = None
    allowed_senders: tuple[str, ...] | None = None

    @classmethod
    def of(cls, row: Any) -> InboxKey:
        return cls(
            id=row.id,
            inbox_id=row.inbox_id,
            label=row.label,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            expires_at=row.expires_at,
            permissions=None if row.permissions is None else tuple(row.permissions),
            allowed_senders=None if row.allowed_senders is None else tuple(row.allowed_senders),
        )


@attrs.frozen(kw_only=True)
class MintedInboxKey:
    """A new key and its raw "<id>.<secret>" form, which exists only until it is shown."""

    key: InboxKey
    raw: str = attrs.field(repr=False)


def insert_key(
    conn: sa.Connection,
    *,
    workspace_id: str,
    agent_id: str,
    kind: KeyKind,
    inbox_id: str | None,
    label: str | None,
    user_id: str | None = None,
    restrictions: Restrictions = NO_RESTRICTIONS,
) -> tuple[str, datetime]:
    """Store a new key; its raw form and creation time. `user_id`: the operator it was
    minted for (at a claim)."""
    minted = mint_key()
    created_at = utcnow()
    conn.execute(
        t.api_keys.insert().values(
            id=minted.id,
            workspace_id=workspace_id,
            agent_id=agent_id,
            key_kind=kind,
            inbox_id=inbox_id,
            user_id=user_id,
            secret_hash=minted.secret_hash,
            label=label,
            created_at=created_at,
            expires_at=restrictions.expires_at,
            permissions=None
            if restrictions.permissions is None
            else list(restrictions.permissions),
            allowed_senders=None
            if restrictions.allowed_senders is None
            else list(restrictions.allowed_senders),
        )
    )
    return minted.raw, created_at


_KEY_COLUMNS = (
    t.api_keys.c.id,
    t.api_keys.c.inbox_id,
    t.api_keys.c.label,
    t.api_keys.c.created_at,
    t.api_keys.c.revoked_at,
    t.api_keys.c.expires_at,
    t.api_keys.c.permissions,
    t.api_keys.c.allowed_senders,
)


def _of_inbox(inbox_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(t.api_keys.c.inbox_id == inbox_id, t.api_keys.c.key_kind == "inbox")


def mint_inbox_key(
    conn: sa.Connection,
    *,
    workspace_id: str,
    inbox_id: str,
    label: str | None,
    restrictions: Restrictions = NO_RESTRICTIONS,
) -> MintedInboxKey:
    inbox = get_inbox(conn, workspace_id, inbox_id)
    raw, created_at = insert_key(
        conn,
        workspace_id=workspace_id,
        agent_id=inbox.agent_id,
        kind="inbox",
        inbox_id=inbox_id,
        label=label,
        restrictions=restrictions,
    )
    key = InboxKey(
        id=raw.partition(".")[0],
        inbox_id=inbox_id,
        label=label,
        created_at=created_at,
        revoked_at=None,
        expires_at=restrictions.expires_at,
        permissions=restrictions.permissions,
        allowed_senders=restrictions.allowed_senders,
    )
    return MintedInboxKey(key=key, raw=raw)


def list_inbox_keys(
    conn: sa.Connection, workspace_id: str, inbox_id: str, *, limit: int, cursor: Cursor | None
) -> Page[InboxKey]:
    """The inbox's keys that are not revoked, oldest first."""
    get_inbox(conn, workspace_id, inbox_id)
    query = sa.select(*_KEY_COLUMNS).where(_of_inbox(inbox_id), t.api_keys.c.revoked_at.is_(None))
    rows, next_cursor = page(
        conn,
        query,
        t.api_keys,
        "key",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
        newest_first=False,
    )
    return Page([InboxKey.of(row) for row in rows], next_cursor)


def revoke_inbox_key(
    conn: sa.Connection, workspace_id: str, inbox_id: str, key_id: str
) -> InboxKey:
    """Revoke one of the inbox's keys; revoking it again changes nothing."""
    get_inbox(conn, workspace_id, inbox_id)
    if not is_id(key_id):
        raise NotFound("key")
    conn.execute(
        t.api_keys.update()
        .where(t.api_keys.c.id == key_id, _of_inbox(inbox_id), t.api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    row = conn.execute(
        sa.select(*_KEY_COLUMNS).where(t.api_keys.c.id == key_id, _of_inbox(inbox_id))
    ).first()
    if row is None:
        raise NotFound("key")
    return InboxKey.of(row)
