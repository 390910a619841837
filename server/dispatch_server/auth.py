"""API key auth, workspace context and policy guard: the one place deciding who touches what."""

from __future__ import annotations

import enum

import attrs
import sqlalchemy as sa

from dispatch_server import schema as t
from dispatch_server.errors import forbidden, not_found, unauthorized
from dispatch_server.keys import secret_matches, split_key


class Scope(enum.Enum):
    ACCOUNT = "account"  # workspace-wide actions
    INBOX = "inbox"  # actions on the inbox in the path
    INBOX_OR_ACCOUNT = "inbox_or_account"  # reading an inbox itself


@attrs.frozen
class Principal:
    key_id: str
    kind: str  # account | inbox
    workspace_id: str
    agent_id: str
    inbox_id: str | None


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise unauthorized()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected 'Authorization: Bearer <key_id>.<secret>'")
    return token.strip()


def authenticate(conn: sa.Connection, raw_key: str) -> Principal:
    """API key auth + workspace context, in one query."""
    parts = split_key(raw_key)
    if parts is None:
        raise unauthorized("malformed API key")
    key_id, secret = parts
    row = (
        conn.execute(
            sa.select(
                t.api_keys.c.id,
                t.api_keys.c.key_kind,
                t.api_keys.c.workspace_id,
                t.api_keys.c.agent_id,
                t.api_keys.c.inbox_id,
                t.api_keys.c.secret_hash,
                t.api_keys.c.revoked_at,
                t.workspaces.c.status,
            )
            .join(t.workspaces, t.workspaces.c.id == t.api_keys.c.workspace_id)
            .where(t.api_keys.c.id == key_id)
        )
    ).first()
    if row is None or row.revoked_at is not None or not secret_matches(secret, row.secret_hash):
        raise unauthorized("unknown or revoked API key")
    if row.status != "active":
        raise forbidden(f"workspace is {row.status}")
    return Principal(
        key_id=row.id,
        kind=row.key_kind,
        workspace_id=row.workspace_id,
        agent_id=row.agent_id,
        inbox_id=row.inbox_id,
    )


def authorize(
    conn: sa.Connection, principal: Principal, scope: Scope, inbox_id: str | None
) -> None:
    """Raise unless the key may act at this scope. An inbox outside the key's reach answers
    404 whatever the key kind, so ids of other workspaces cannot be probed."""
    if scope is Scope.ACCOUNT:
        if principal.kind != "account":
            raise forbidden("this route needs an account key")
        return
    if principal.kind == "inbox":
        if inbox_id is None or principal.inbox_id != inbox_id:
            raise not_found("inbox")
        return
    if scope is Scope.INBOX_OR_ACCOUNT:
        return  # the domain query filters by the principal's workspace
    if inbox_id is None or not _workspace_has_inbox(conn, principal.workspace_id, inbox_id):
        raise not_found("inbox")
    raise forbidden(
        "this route needs an inbox key: use this inbox's key, or mint one with "
        f"POST /v1/inboxes/{inbox_id}/keys"
    )


def admit(conn: sa.Connection, raw_key: str, scope: Scope, inbox_id: str | None) -> Principal:
    """Authenticate the key and authorize it for the route, on one connection."""
    principal = authenticate(conn, raw_key)
    authorize(conn, principal, scope, inbox_id)
    return principal


def _workspace_has_inbox(conn: sa.Connection, workspace_id: str, inbox_id: str) -> bool:
    found = conn.scalar(
        sa.select(t.inboxes.c.id).where(
            t.inboxes.c.id == inbox_id, t.inboxes.c.workspace_id == workspace_id
        )
    )
    return found is not None
