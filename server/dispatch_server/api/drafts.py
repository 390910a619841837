"""An inbox's drafts (`/v1/inboxes/{inbox_id}/drafts`): messages saved before they are sent,
created, listed (latest updated first), read, updated in part (with `version` against a
stale write), deleted, and sent through the one send path of `POST /v1/send`
(dispatch_server.api.sends.send_from). What a draft may hold is
dispatch_server.domain.drafts; every route needs the `send` permission."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import attrs

from dispatch_server.api.sends import SentMessage, addresses_field, send_from
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Principal, Scope
from dispatch_server.core.clock import utcnow
from dispatch_server.domain import drafts, sends
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project
from dispatch_server.services import Services

CURSOR = params.page_cursor("draft")
_ONE = "/v1/inboxes/{inbox_id}/drafts/{draft_id}"


def _maybe_addresses(description: str) -> tuple[str, ...] | None:
    value: tuple[str, ...] | None = field(default=None, description=description)
    return value


@attrs.frozen(kw_only=True)
class CreateDraft:
    """A message to send later: any field may be missing until it is sent. Addresses are
    as for `POST /v1/send`, checked (with the rest) when the draft is sent."""

    to: tuple[str, ...] = addresses_field("recipients shown in To")
    cc: tuple[str, ...] = addresses_field("recipients shown in Cc")
    bcc: tuple[str, ...] = addresses_field("recipients no header shows")
    reply_to: tuple[str, ...] = addresses_field("addresses replies should go to")
    subject: str = field(default="", maxLength=sends.MAX_SUBJECT_CHARS)
    text: str | None = field(default=None, description="the plain-text body")
    html: str | None = field(default=None, description="the HTML body")
    headers: dict[str, str] = field(factory=dict, description="extra headers, as for a send")
    in_reply_to: str | None = field(
        default=None,
        description="the id of a message this inbox received: the draft's send replies to "
        "it, in its thread",
    )

    def fields(self) -> drafts.DraftFields:
        return project(drafts.DraftFields, self)


@attrs.frozen(kw_only=True)
class UpdateDraft:
    """Fields left out (or null) are kept; `""` clears `text`, `html` or `in_reply_to`, `[]`
    an address list."""

    to: tuple[str, ...] | None = _maybe_addresses("recipients shown in To")
    cc: tuple[str, ...] | None = _maybe_addresses("recipients shown in Cc")
    bcc: tuple[str, ...] | None = _maybe_addresses("recipients no header shows")
    reply_to: tuple[str, ...] | None = _maybe_addresses("addresses replies should go to")
    subject: str | None = field(default=None, maxLength=sends.MAX_SUBJECT_CHARS)
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] | None = field(default=None, description="replaces them all")
    in_reply_to: str | None = None
    version: int | None = field(
        default=None,
        description="the version the update is based on: if the draft has changed since, "
        "409 `draft_changed` and nothing is changed",
    )


@attrs.frozen(kw_only=True)
class Draft:
    """A message the inbox is writing."""

    id: str
    inbox_id: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    in_reply_to: str | None = field(description="the id of the received message it answers")
    version: int = field(description="1 when created, one more at each update")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, draft: drafts.Draft) -> Draft:
        f = draft.fields
        return cls(
            id=draft.id,
            inbox_id=draft.inbox_id,
            to=f.to,
            cc=f.cc,
            bcc=f.bcc,
            reply_to=f.reply_to,
            subject=f.subject,
            text=f.text,
            html=f.html,
            headers=dict(f.headers),
            in_reply_to=f.in_reply_to,
            version=draft.version,
            created_at=draft.created_at,
            updated_at=draft.updated_at,
        )


def _max_recipients(call: Call[Any]) -> int:
    return call.services.settings.outbound.max_recipients


async def create_draft(call: Call[CreateDraft]) -> Draft:
    created = await call.services.db.run_write(
        drafts.create_draft,
        call.principal.workspace_id,
        call.path("inbox_id"),
        call.body.fields(),
        now=utcnow(),
        max_recipients=_max_recipients(call),
        senders=policy.senders_of(call.principal),
    )
    return Draft.of(created)


async def list_drafts(call: Call[None]) -> Page[Draft]:
    found = await call.services.db.run_read(
        drafts.list_drafts,
        call.path("inbox_id"),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
        senders=policy.senders_of(call.principal),
    )
    return Page.of(found, Draft.of)


async def get_draft(call: Call[None]) -> Draft:
    found = await call.services.db.run_read(
        drafts.get_draft,
        call.path("inbox_id"),
        call.path("draft_id"),
        senders=policy.senders_of(call.principal),
    )
    return Draft.of(found)


async def update_draft(call: Call[UpdateDraft]) -> Draft:
    body = call.body
    changes = {
        name: getattr(body, name) for name in drafts.FIELD_NAMES if getattr(body, name) is not None
    }
    for name in ("text", "html", "in_reply_to"):
        if changes.get(name) == "":
            changes[name] = None
    updated = await call.services.db.run_write(
        drafts.update_draft,
        call.path("inbox_id"),
        call.path("draft_id"),
        changes,
        version=body.version,
        now=utcnow(),
        max_recipients=_max_recipients(call),
        senders=policy.senders_of(call.principal),
    )
    return Draft.of(updated)


async def delete_draft(call: Call[None]) -> Draft:
    deleted = await call.services.db.run_write(
        drafts.delete_draft,
        call.path("inbox_id"),
        call.path("draft_id"),
        senders=policy.senders_of(call.principal),
    )
    return Draft.of(deleted)


async def send_saved(
    services: Services, principal: Principal, inbox_id: str, draft_id: str
) -> sends.SentMessage:
    """Send the draft through the one send path, deleting it as its send is queued: the
    API's draft send and the console's mail desk both send drafts through this."""
    draft = await services.db.run_read(
        drafts.get_draft, inbox_id, draft_id, senders=policy.senders_of(principal)
    )
    take = functools.partial(
        drafts.take, inbox_id=inbox_id, draft_id=draft.id, version=draft.version
    )
    return await send_from(services, principal, inbox_id, drafts.as_send(draft), then=take)


async def send_draft(call: Call[None]) -> SentMessage:
    sent = await send_saved(
        call.services, call.principal, call.path("inbox_id"), call.path("draft_id")
    )
    return SentMessage.of(sent)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/inboxes/{inbox_id}/drafts",
        handler=create_draft,
        summary="Save a draft",
        description="Any field may be missing; each has the caps of a send (lengths, "
        "recipient count), and `in_reply_to` must name a message of the inbox. An inbox keeps "
        f"at most {drafts.MAX_DRAFTS} drafts.",
        scope=Scope.INBOX,
        permission="send",
        body=CreateDraft,
        response=Draft,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/drafts",
        handler=list_drafts,
        summary="List the inbox's drafts, latest updated first",
        scope=Scope.INBOX,
        permission="send",
        response=Page[Draft],
        query=(params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="GET",
        path=_ONE,
        handler=get_draft,
        summary="Get a draft",
        scope=Scope.INBOX,
        permission="send",
        response=Draft,
    ),
    Endpoint(
        method="PATCH",
        path=_ONE,
        handler=update_draft,
        summary="Update a draft's fields",
        description="Fields left out are kept. With `version`, a draft changed since is "
        "not updated (409 `draft_changed`).",
        scope=Scope.INBOX,
        permission="send",
        body=UpdateDraft,
        response=Draft,
    ),
    Endpoint(
        method="DELETE",
        path=_ONE,
        handler=delete_draft,
        summary="Delete a draft",
        scope=Scope.INBOX,
        permission="send",
        response=Draft,
    ),
    Endpoint(
        method="POST",
        path=_ONE + "/send",
        handler=send_draft,
        summary="Send a draft",
        description="Sent as `POST /v1/send` sends (the same checks and error codes, send "
        "lists, quotas), and the draft is deleted as the send is queued: a draft is sent once "
        "(again: 404). Send an `Idempotency-Key` (the SDK does) so a retry gets the first "
        "answer. A draft updated while it was being sent is not sent (409 `draft_changed`).",
        scope=Scope.INBOX,
        permission="send",
        response=SentMessage,
        status=201,
        idempotent=True,
    ),
]
