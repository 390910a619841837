"""Workspaces, agents, inboxes and their API keys."""

from __future__ import annotations

import re
import secrets
from typing import Any

import attrs
import sqlalchemy as sa

from dispatch_server import schema as t
from dispatch_server.clock import is_id, new_id, utcnow
from dispatch_server.domain.messages import Cursor, page
from dispatch_server.errors import ApiError, bad_request, not_found
from dispatch_server.keys import mint_key

LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
RESERVED_LOCAL_PARTS = frozenset(
    {
        "postmaster",
        "abuse",
        "admin",
        "administrator",
        "hostmaster",
        "webmaster",
        "root",
        "mailer-daemon",
        "noreply",
        "no-reply",
        "security",
        "support",
    }
)


@attrs.frozen
class SignupResult:
    workspace: dict[str, Any]
    agent: dict[str, Any]
    inbox: dict[str, Any]
    account_key: str
    inbox_key: str


def validate_local_part(local_part: str) -> str:
    lowered = local_part.strip().lower()
    if not LOCAL_PART.match(lowered) or ".." in lowered:
        raise bad_request(
            "local_part must be 1-64 of a-z, 0-9, '.', '_', '-', starting and ending "
            "with a letter or digit"
        )
    if lowered in RESERVED_LOCAL_PARTS:
        raise bad_request(f"local_part {lowered!r} is reserved")
    return lowered


def random_local_part() -> str:
    return "agent-" + secrets.token_hex(5)


def signup(
    conn: sa.Connection, *, domain: str, name: str | None, local_part: str | None
) -> SignupResult:
    now = utcnow()
    workspace_id, agent_id = new_id(), new_id()
    workspace: dict[str, Any] = {
        "id": workspace_id,
        "name": name or "agent",
        "status": "active",
        "plan": "free",
        "policy": {},
        "created_at": now,
    }
    agent: dict[str, Any] = {
        "id": agent_id,
        "workspace_id": workspace_id,
        "name": workspace["name"],
        "created_at": now,
    }
    conn.execute(t.workspaces.insert().values(**workspace))
    conn.execute(t.agents.insert().values(**agent))
    inbox = _insert_inbox(
        conn,
        workspace_id=workspace_id,
        agent_id=agent_id,
        domain=domain,
        local_part=local_part,
        display_name=None,
    )
    account_key = _insert_key(conn, agent=agent, kind="account", inbox_id=None, label="default")
    inbox_key = _insert_key(conn, agent=agent, kind="inbox", inbox_id=inbox["id"], label="default")
    return SignupResult(
        workspace=workspace, agent=agent, inbox=inbox, account_key=account_key, inbox_key=inbox_key
    )


def create_inbox(
    conn: sa.Connection,
    *,
    workspace_id: str,
    agent_id: str,
    domain: str,
    local_part: str | None,
    display_name: str | None,
    enforce_multi_inbox_upgrade: bool,
) -> dict[str, Any]:
    if enforce_multi_inbox_upgrade:
        _check_multi_inbox_allowed(conn, workspace_id)
    return _insert_inbox(
        conn,
        workspace_id=workspace_id,
        agent_id=agent_id,
        domain=domain,
        local_part=local_part,
        display_name=display_name,
    )


def _check_multi_inbox_allowed(conn: sa.Connection, workspace_id: str) -> None:
    plan = conn.scalar(sa.select(t.workspaces.c.plan).where(t.workspaces.c.id == workspace_id))
    count = conn.scalar(
        sa.select(sa.func.count())
        .select_from(t.inboxes)
        .where(t.inboxes.c.workspace_id == workspace_id)
    )
    if plan == "free" and (count or 0) >= 1:
        raise ApiError(
            402, "upgrade_required", "this workspace needs the multi_inbox upgrade for more inboxes"
        )


def _insert_inbox(
    conn: sa.Connection,
    *,
    workspace_id: str,
    agent_id: str,
    domain: str,
    local_part: str | None,
    display_name: str | None,
) -> dict[str, Any]:
    chosen = validate_local_part(local_part) if local_part is not None else None
    for _attempt in range(5):
        address = f"{chosen or random_local_part()}@{domain}"
        taken = conn.scalar(sa.select(t.inboxes.c.id).where(t.inboxes.c.address == address))
        if taken is None:
            break
        if chosen is not None:
            raise ApiError(409, "address_taken", f"{address} is already an inbox")
    else:
        raise ApiError(409, "address_taken", "could not find a free random address; try again")
    inbox = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "agent_id": agent_id,
        "address": address,
        "display_name": display_name,
        "created_at": utcnow(),
    }
    try:
        # A savepoint keeps the outer transaction usable if a concurrent insert won the race.
        with conn.begin_nested():
            conn.execute(t.inboxes.insert().values(**inbox))
    except sa.exc.IntegrityError:
        raise ApiError(409, "address_taken", f"{address} is already an inbox") from None
    return inbox


def _insert_key(
    conn: sa.Connection,
    *,
    agent: dict[str, Any],
    kind: str,
    inbox_id: str | None,
    label: str | None,
) -> str:
    minted = mint_key()
    conn.execute(
        t.api_keys.insert().values(
            id=minted.id,
            workspace_id=agent["workspace_id"],
            agent_id=agent["id"],
            key_kind=kind,
            inbox_id=inbox_id,
            secret_hash=minted.secret_hash,
            label=label,
            created_at=utcnow(),
        )
    )
    return minted.raw


def list_inboxes(
    conn: sa.Connection, workspace_id: str, *, limit: int, cursor: Cursor | None
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The workspace's inboxes, oldest first."""
    query = sa.select(t.inboxes).where(t.inboxes.c.workspace_id == workspace_id)
    rows, next_cursor = page(
        conn,
        query,
        t.inboxes,
        "inbox",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
        newest_first=False,
    )
    return [dict(row._mapping) for row in rows], next_cursor


def get_inbox(conn: sa.Connection, workspace_id: str, inbox_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.select(t.inboxes).where(
                t.inboxes.c.id == inbox_id, t.inboxes.c.workspace_id == workspace_id
            )
        )
    ).first()
    if row is None:
        raise not_found("inbox")
    return dict(row._mapping)


_KEY_COLUMNS = (
    t.api_keys.c.id,
    t.api_keys.c.key_kind.label("kind"),
    t.api_keys.c.inbox_id,
    t.api_keys.c.label,
    t.api_keys.c.created_at,
    t.api_keys.c.revoked_at,
)


def _inbox_key(conn: sa.Connection, inbox_id: str, key_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(*_KEY_COLUMNS).where(
            t.api_keys.c.id == key_id,
            t.api_keys.c.inbox_id == inbox_id,
            t.api_keys.c.key_kind == "inbox",
        )
    ).first()
    return None if row is None else dict(row._mapping)


def mint_inbox_key(
    conn: sa.Connection, *, workspace_id: str, inbox_id: str, label: str | None
) -> dict[str, Any]:
    inbox = get_inbox(conn, workspace_id, inbox_id)
    agent = {"id": inbox["agent_id"], "workspace_id": workspace_id}
    raw = _insert_key(conn, agent=agent, kind="inbox", inbox_id=inbox_id, label=label)
    key = _inbox_key(conn, inbox_id, raw.partition(".")[0])
    assert key is not None
    return {**key, "key": raw}


def list_inbox_keys(
    conn: sa.Connection, workspace_id: str, inbox_id: str, *, limit: int, cursor: Cursor | None
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The inbox's keys that are not revoked, oldest first."""
    get_inbox(conn, workspace_id, inbox_id)
    query = sa.select(*_KEY_COLUMNS).where(
        t.api_keys.c.inbox_id == inbox_id,
        t.api_keys.c.key_kind == "inbox",
        t.api_keys.c.revoked_at.is_(None),
    )
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
    return [dict(row._mapping) for row in rows], next_cursor


def revoke_inbox_key(
    conn: sa.Connection, workspace_id: str, inbox_id: str, key_id: str
) -> dict[str, Any]:
    """Revoke one of the inbox's keys; revoking it again changes nothing."""
    get_inbox(conn, workspace_id, inbox_id)
    if not is_id(key_id):
        raise not_found("key")
    conn.execute(
        t.api_keys.update()
        .where(
            t.api_keys.c.id == key_id,
            t.api_keys.c.inbox_id == inbox_id,
            t.api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    key = _inbox_key(conn, inbox_id, key_id)
    if key is None:
        raise not_found("key")
    return key
