"""An inbox's API keys: mint, list and revoke them (with an account key)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

import attrs

from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.core.clock import parse_timestamp, utcnow
from dispatch_server.core.errors import InvalidInput
from dispatch_server.domain import inbox_keys
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project

CURSOR = params.page_cursor("key")


@attrs.frozen(kw_only=True)
class InboxKey:
    """An inbox key without its secret."""

    id: str
    kind: Literal["inbox"]
    inbox_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = field(description="when the key stops working; null: never")
    permissions: tuple[str, ...] | None = field(
        description="the permissions it was restricted to; null: all of an inbox key's"
    )
    allowed_senders: tuple[str, ...] | None = field(
        description="the senders whose mail it may read; null: anyone's"
    )

    @classmethod
    def of(cls, key: inbox_keys.InboxKey) -> InboxKey:
        return project(cls, key, kind="inbox")


@attrs.frozen(kw_only=True)
class CreatedInboxKey(InboxKey):
    """A new inbox key; `key` is shown only here."""

    key: str = field(description="<key_id>.<secret>, for `Authorization: Bearer`")


# The longest an expiring key may be minted for (`expires_in`, `expires_at`).
MAX_LIFETIME: Final = timedelta(days=3660)


@attrs.frozen(kw_only=True)
class MintInboxKey:
    """A new inbox key, restricted or not: leave a restriction out for no limit."""

    label: str | None = field(default=None, maxLength=200)
    expires_at: str | None = field(
        default=None,
        format="date-time",
        maxLength=64,
        description="when the key stops working: an RFC 3339 time with an offset, in the "
        "future; not with expires_in",
    )
    expires_in: int | None = field(
        default=None,
        minimum=1,
        maximum=int(MAX_LIFETIME.total_seconds()),
        description="seconds from now until the key stops working; not with expires_at",
    )
    permissions: tuple[str, ...] | None = field(
        default=None,
        maxItems=len(policy.PERMISSIONS["inbox"]),
        description="what the key may do, some of "
        + ", ".join(f"`{w}`" for w in policy.PERMISSIONS["inbox"])
        + "; null or absent: all of them",
    )
    allowed_senders: tuple[str, ...] | None = field(
        default=None,
        maxItems=policy.MAX_SENDER_PATTERNS,
        description="the senders whose mail the key may read (messages, artifacts, OTP, "
        "waits, events): an address (`noreply@x.com`), a domain (`*@github.com`) or its "
        "subdomains (`*.example.com`); null or absent: anyone's",
    )


def restrictions(body: MintInboxKey) -> inbox_keys.Restrictions:
    """The restrictions a mint asks for, checked: 400 naming the field at fault."""
    now = utcnow()
    expires_at = None
    if body.expires_at is not None:
        try:
            expires_at = parse_timestamp(body.expires_at)
        except ValueError:
            raise InvalidInput(
                "expires_at must be an RFC 3339 time with an offset", param="expires_at"
            ) from None
    if expires_at is not None and body.expires_in is not None:
        raise InvalidInput("give expires_at or expires_in, not both", param="expires_in")
    if body.expires_in is not None:
        expires_at = now + timedelta(seconds=body.expires_in)
    elif expires_at is not None:
        if expires_at <= now:
            raise InvalidInput("expires_at must be in the future", param="expires_at")
        if expires_at - now > MAX_LIFETIME:
            raise InvalidInput(
                f"expires_at may be at most {MAX_LIFETIME.days} days ahead", param="expires_at"
            )
    return inbox_keys.Restrictions(
        expires_at=expires_at,
        permissions=None if body.permissions is None else policy.key_permissions(body.permissions),
        allowed_senders=None
        if body.allowed_senders is None
        else policy.sender_patterns(body.allowed_senders),
    )


async def mint_inbox_key(call: Call[MintInboxKey]) -> CreatedInboxKey:
    minted = await call.services.db.run_write(
        inbox_keys.mint_inbox_key,
        workspace_id=call.principal.workspace_id,
        inbox_id=call.path("inbox_id"),
        label=call.body.label,
        restrictions=restrictions(call.body),
    )
    return project(CreatedInboxKey, minted.key, kind="inbox", key=minted.raw)


async def list_inbox_keys(call: Call[None]) -> Page[InboxKey]:
    found = await call.services.db.run_read(
        inbox_keys.list_inbox_keys,
        call.principal.workspace_id,
        call.path("inbox_id"),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
    )
    return Page.of(found, InboxKey.of)


async def revoke_inbox_key(call: Call[None]) -> InboxKey:
    key = await call.services.db.run_write(
        inbox_keys.revoke_inbox_key,
        call.principal.workspace_id,
        call.path("inbox_id"),
        call.path("key_id"),
    )
    call.services.hub.keys.revoked(key.id)  # this process's open waits of the key see no more mail
    return InboxKey.of(key)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/inboxes/{inbox_id}/keys",
        handler=mint_inbox_key,
        summary="Mint an inbox key, restricted or not",
        description="Restrictions narrow what the key may do: an expiry (an expired key "
        "gets `401 unauthorized`, as any invalid key), a part of the permissions (a route "
        "needing another gets `403 missing_permission`), and the senders whose mail it may "
        "read (mail from others is not there for it). `GET /v1/auth/me` shows them.",
        scope=Scope.ACCOUNT,
        body=MintInboxKey,
        response=CreatedInboxKey,
        status=201,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/keys",
        handler=list_inbox_keys,
        summary="The inbox's keys that are not revoked, oldest first",
        scope=Scope.ACCOUNT,
        response=Page[InboxKey],
        query=(params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="DELETE",
        path="/v1/inboxes/{inbox_id}/keys/{key_id}",
        handler=revoke_inbox_key,
        summary="Revoke an inbox key: at once, and revoking it again changes nothing",
        scope=Scope.ACCOUNT,
        response=InboxKey,
    ),
]
