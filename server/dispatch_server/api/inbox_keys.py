"""An inbox's API keys: mint, list and revoke them (with an account key)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from dispatch_server.auth.principal import Scope
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

    @classmethod
    def of(cls, key: inbox_keys.InboxKey) -> InboxKey:
        return project(cls, key, kind="inbox")


@attrs.frozen(kw_only=True)
class CreatedInboxKey(InboxKey):
    """A new inbox key; `key` is shown only here."""

    key: str = field(description="<key_id>.<secret>, for `Authorization: Bearer`")


@attrs.frozen(kw_only=True)
class MintInboxKey:
    label: str | None = field(default=None, maxLength=200)


async def mint_inbox_key(call: Call[MintInboxKey]) -> CreatedInboxKey:
    minted = await call.services.db.run_write(
        inbox_keys.mint_inbox_key,
        workspace_id=call.principal.workspace_id,
        inbox_id=call.path("inbox_id"),
        label=call.body.label,
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
        summary="Mint an inbox key",
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
