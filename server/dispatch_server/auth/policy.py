"""The policy guard: the one place deciding whether a principal may act at a scope, what a
key may do (its permissions, as `GET /v1/auth/me` shows them), and whether an operator is
an admin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NoReturn

import sqlalchemy as sa

from dispatch_server.auth.principal import KeyKind, Principal, Scope
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


# What each kind of key may do, in the words `GET /v1/auth/me` answers with: see
# `permissions`, which says what each word means.
PERMISSIONS: Final[Mapping[KeyKind, tuple[str, ...]]] = {
    "inbox": ("read", "wait", "send", "memory"),
    "account": (
        "inboxes",
        "inbox_keys",
        "read",
        "send",
        "events",
        "webhooks",
        "billing",
        "suppressions",
    ),
}


def permissions(principal: Principal) -> tuple[str, ...]:
    """What the key may do. Today every key of a kind may do the same (PERMISSIONS); a
    restricted key would answer a part of its kind's list here.

    The words name the routes `authorize` lets each kind of key reach; they grant nothing
    by themselves (the scopes decide), so a new route on a scope belongs under one of them.

    An inbox key acts on its own inbox only:

    - `read`: the inbox (GET /v1/inboxes/{id}), its messages and their raw MIME, artifacts,
      latest OTP, sent mail, and its event stream (GET /v1/inboxes/{id}/events).
    - `wait`: waiting for mail (GET /v1/inboxes/{id}/wait).
    - `send`: sending from the inbox (POST /v1/send) and replying to its mail
      (POST …/messages/{id}/reply).
    - `memory`: writing and reading the inbox's memory (…/memory, …/history, …/keys).

    An account key acts on its whole workspace:

    - `inboxes`: listing and creating inboxes (GET and POST /v1/inboxes).
    - `inbox_keys`: minting, listing and revoking inbox keys (/v1/inboxes/{id}/keys).
    - `read`: reading an inbox's own record (GET /v1/inboxes/{id}); not its mail, which
      needs that inbox's key (the SDK mints one).
    - `send`: sending from any inbox of the workspace, named by `inbox_id` in the body of
      POST /v1/send.
    - `events`: the workspace's event stream (GET /v1/events).
    - `webhooks`: webhook endpoints, their deliveries and replays (/v1/webhooks/endpoints).
    - `billing`: Stripe checkout, x402 quotes and payment confirmations (/v1/billing/…).
    - `suppressions`: listing and lifting suppressed recipients (/v1/suppressions).

    Any key, whatever its permissions, may also ask what it is (GET /v1/auth/me), read its
    workspace's entitlements (GET /v1/billing/entitlements) and mint a claim token
    (POST /v1/agent/claim-token).
    """
    return PERMISSIONS[principal.kind]


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
