"""Suppressions: the recipients a workspace may no longer send to, listed and lifted with an
account key."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.auth.principal import Scope
from dispatch_server.domain import suppressions
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project

CURSOR = params.page_cursor("suppression")


@attrs.frozen(kw_only=True)
class Suppression:
    """A recipient sends are refused for (`422 recipient_suppressed`)."""

    address: str
    reason: suppressions.Reason = field(
        description="`bounce` (a permanent bounce) or `complaint` (marked as spam)"
    )
    detail: str | None = field(description="what the provider said")
    outbound_message_id: str | None = field(description="the sent message it came from")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, suppression: suppressions.Suppression) -> Suppression:
        return project(cls, suppression)


async def list_suppressions(call: Call[None]) -> Page[Suppression]:
    found = await call.services.db.run_read(
        suppressions.list_suppressions,
        call.principal.workspace_id,
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
    )
    return Page.of(found, Suppression.of)


async def lift(call: Call[None]) -> Suppression:
    lifted = await call.services.db.run_write(
        suppressions.lift, call.principal.workspace_id, call.path("address")
    )
    return Suppression.of(lifted)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/suppressions",
        handler=list_suppressions,
        summary="List the workspace's suppressed recipients, newest first",
        scope=Scope.ACCOUNT,
        response=Page[Suppression],
        query=(params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="DELETE",
        path="/v1/suppressions/{address:path}",
        handler=lift,
        summary="Lift a suppression: sends to the address are taken again",
        scope=Scope.ACCOUNT,
        response=Suppression,
    ),
]
