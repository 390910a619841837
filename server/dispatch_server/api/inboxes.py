"""Inboxes: list, create and read them."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.api import billing
from dispatch_server.auth.principal import Scope
from dispatch_server.core.errors import UpgradeRequired
from dispatch_server.domain import inboxes
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project


def local_part_field() -> str | None:
    field_: str | None = field(
        default=None,
        pattern=inboxes.LOCAL_PART.pattern,
        maxLength=64,
        description="the address before the @; a random one if left out",
    )
    return field_


CURSOR = params.page_cursor("inbox")


@attrs.frozen(kw_only=True)
class Inbox:
    id: str
    workspace_id: str
    address: str
    display_name: str | None
    created_at: datetime

    @classmethod
    def of(cls, inbox: inboxes.Inbox) -> Inbox:
        return project(cls, inbox)


@attrs.frozen(kw_only=True)
class CreateInbox:
    local_part: str | None = local_part_field()
    display_name: str | None = field(default=None, maxLength=200)
    domain: str | None = field(
        default=None,
        maxLength=254,
        description="a verified custom domain of the workspace (see /v1/domains); left out: "
        "the service's inbox domain",
    )


async def list_inboxes(call: Call[None]) -> Page[Inbox]:
    found = await call.services.db.run_read(
        inboxes.list_inboxes,
        call.principal.workspace_id,
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
    )
    return Page.of(found, Inbox.of)


async def create_inbox(call: Call[CreateInbox]) -> Inbox:
    settings = call.services.settings.inboxes
    try:
        inbox = await call.services.db.run_write(
            inboxes.create_inbox,
            workspace_id=call.principal.workspace_id,
            agent_id=call.principal.agent_id,
            domain=settings.domain,
            local_part=call.body.local_part,
            display_name=call.body.display_name,
            enforce_multi_inbox_upgrade=settings.enforce_multi_inbox_upgrade,
            custom_domain=call.body.domain,
        )
    except UpgradeRequired as refused:
        raise await billing.upgrade_offer(
            call.services, call.principal.workspace_id, refused, resource=str(call.request.url)
        ) from None
    return Inbox.of(inbox)


async def get_inbox(call: Call[None]) -> Inbox:
    inbox = await call.services.db.run_read(
        inboxes.get_inbox, call.principal.workspace_id, call.path("inbox_id")
    )
    return Inbox.of(inbox)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes",
        handler=list_inboxes,
        summary="List the workspace's inboxes, oldest first",
        scope=Scope.ACCOUNT,
        response=Page[Inbox],
        query=(params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="POST",
        path="/v1/inboxes",
        handler=create_inbox,
        summary="Create an inbox",
        scope=Scope.ACCOUNT,
        body=CreateInbox,
        response=Inbox,
        status=201,
        idempotent=True,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}",
        handler=get_inbox,
        summary="Get an inbox",
        scope=Scope.INBOX_OR_ACCOUNT,
        permission="read",
        response=Inbox,
    ),
]
