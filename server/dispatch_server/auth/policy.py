"""The policy guard: the one place deciding whether a principal may act at a scope, and
whether an operator is an admin."""

from __future__ import annotations

from typing import NoReturn

import sqlalchemy as sa

from dispatch_server.auth.principal import Principal, Scope
from dispatch_server.config import Operators
from dispatch_server.core.errors import Forbidden, NotFound
from dispatch_server.db import tables as t


def authorize(principal: Principal, scope: Scope, inbox_id: str | None) -> bool:
    """Whether the key may act at this scope: True, or an error raised (403/404), or False
    when only the database can say which error: an account key on an inbox route, which
    `refuse_account_key` then answers (it is never allowed). An inbox outside the key's
    reach answers 404 whatever the key kind, so ids of other workspaces cannot be probed."""
    if scope is Scope.ANY_KEY:
        return True
    if scope is Scope.ACCOUNT:
        if principal.kind != "account":
            raise Forbidden("this route needs an account key")
        return True
    if principal.kind == "inbox":
        if inbox_id is None or principal.inbox_id != inbox_id:
            raise NotFound("inbox")
        return True
    # An account key: it may read an inbox itself (the domain query filters by its
    # workspace), but inbox routes need that inbox's key.
    return scope is Scope.INBOX_OR_ACCOUNT


def refuse_account_key(conn: sa.Connection, principal: Principal, inbox_id: str | None) -> NoReturn:
    """403 with a hint for an inbox of the key's workspace, else 404."""
    if inbox_id is None or not _workspace_has_inbox(conn, principal.workspace_id, inbox_id):
        raise NotFound("inbox")
    raise Forbidden(
        "this route needs an inbox key: use this inbox's key, or mint one with "
        f"POST /v1/inboxes/{inbox_id}/keys"
    )


def _workspace_has_inbox(conn: sa.Connection, workspace_id: str, inbox_id: str) -> bool:
    found = conn.scalar(
        sa.select(t.inboxes.c.id).where(
            t.inboxes.c.id == inbox_id, t.inboxes.c.workspace_id == workspace_id
        )
    )
    return found is not None


def is_admin(settings: Operators, *, email: str, email_verified: bool) -> bool:
    """An admin manages invite codes and reads the ops status: an operator whose email is on
    DISPATCH_ADMIN_EMAILS, once verified (before, anyone could sign up with that address)."""
    return email_verified and email in settings.admins
