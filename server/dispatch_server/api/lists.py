"""Allow and block lists (`/v1/lists`): entries for the whole workspace or one inbox, for
mail received or sent, added and deleted with an account key, listed with any key (an
inbox key sees those that apply to its inbox, auth.policy.list_reach). What they mean is
dispatch_server.domain.lists; the SMTP door, the ingest pipeline and sends apply them."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.core.clock import utcnow
from dispatch_server.domain import lists
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project

CURSOR = params.page_cursor("list_entry")
INBOX = params.text(
    "inbox_id",
    description="only this inbox's own entries (an inbox key: its own inbox's id only)",
)
DIRECTION = params.choice(
    "direction", lists.DIRECTIONS, default=None, description="only the entries for this direction"
)
_PATTERN = (
    "`a@x.com` (that address), `x.com` (any address at x.com, not its subdomains) or "
    "`*.x.com` (any address at a subdomain of x.com); any case, Unicode or punycode domains"
)


@attrs.frozen(kw_only=True)
class ListEntry:
    """An allow or block entry: block wins, then allow; with any allow entry for an inbox and
    direction, everything else is refused (see docs/lists.md)."""

    id: str
    inbox_id: str | None = field(description="the inbox it applies to; null: every inbox")
    direction: lists.Direction = field(
        description="`receive`: the sender of incoming mail is matched; `send`: each recipient"
    )
    action: lists.Action
    pattern: str = field(description="lowercased, its domain in punycode: " + _PATTERN)
    created_at: datetime

    @classmethod
    def of(cls, entry: lists.Entry) -> ListEntry:
        return project(cls, entry)


@attrs.frozen(kw_only=True)
class CreateListEntry:
    pattern: str = field(maxLength=lists.MAX_PATTERN_CHARS, description=_PATTERN)
    direction: lists.Direction
    action: lists.Action
    inbox_id: str | None = field(
        default=None, description="an inbox of the workspace; null or left out: every inbox"
    )


async def create_entry(call: Call[CreateListEntry]) -> ListEntry:
    body = call.body
    entry = await call.services.db.run_write(
        lists.add,
        call.principal.workspace_id,
        inbox_id=body.inbox_id,
        direction=body.direction,
        action=body.action,
        raw_pattern=body.pattern,
        now=utcnow(),
    )
    return ListEntry.of(entry)


async def list_entries(call: Call[None]) -> Page[ListEntry]:
    reach = policy.list_reach(call.principal, call.query(INBOX))
    found = await call.services.db.run_read(
        lists.list_entries,
        call.principal.workspace_id,
        inbox_id=reach.own_of,
        applying_to=reach.applying_to,
        direction=call.query(DIRECTION),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
    )
    return Page.of(found, ListEntry.of)


async def delete_entry(call: Call[None]) -> ListEntry:
    deleted = await call.services.db.run_write(
        lists.delete, call.principal.workspace_id, call.path("entry_id")
    )
    return ListEntry.of(deleted)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/lists",
        handler=create_entry,
        summary="Add an allow or block entry for the workspace or one of its inboxes",
        scope=Scope.ACCOUNT,
        body=CreateListEntry,
        response=ListEntry,
        status=201,
    ),
    Endpoint(
        method="GET",
        path="/v1/lists",
        handler=list_entries,
        summary="List the workspace's allow and block entries, newest first",
        description="An account key lists every entry of the workspace; an inbox key the "
        "entries that apply to its inbox (the workspace's and its own).",
        scope=Scope.ANY_KEY,
        permission="read",
        response=Page[ListEntry],
        query=(INBOX, DIRECTION, params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="DELETE",
        path="/v1/lists/{entry_id}",
        handler=delete_entry,
        summary="Delete an allow or block entry",
        scope=Scope.ACCOUNT,
        response=ListEntry,
    ),
]
