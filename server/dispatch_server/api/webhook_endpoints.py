"""Webhook endpoints (`/v1/webhooks/endpoints`, account key): registered, listed, changed and
deleted, their secrets rotated, their delivery log read and a delivery replayed. The
deliveries themselves are sent by dispatch_server.outbound.webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import attrs

from dispatch_server.auth.principal import Scope
from dispatch_server.core.clock import utcnow
from dispatch_server.domain import webhooks
from dispatch_server.events import log as event_log
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project

ENDPOINT_CURSOR = params.page_cursor("webhook_endpoint")
DELIVERY_CURSOR = params.page_cursor("webhook_delivery")
STATUS = params.choice(
    "status",
    ("pending", "succeeded", "failed"),
    default=None,
    description="only the deliveries in this state",
)
EVERY_TYPE = "*"
_TYPES_TEXT = (
    f'the event types sent to it; `["{EVERY_TYPE}"]` (or, creating, leaving it out): every '
    "type, those added later too"
)


@attrs.frozen(kw_only=True)
class WebhookEndpoint:
    """Where the workspace's events are POSTed, signed with the endpoint's secret."""

    id: str
    url: str
    description: str | None
    event_types: tuple[str, ...] | None = field(
        description="the event types sent to it; null: every type, those added later too"
    )
    enabled: bool
    disabled_reason: str | None = field(
        description="why it is disabled: by its owner, or after deliveries kept failing"
    )
    disabled_at: datetime | None
    consecutive_failures: int = field(
        description="deliveries that failed after every retry since the last success"
    )
    previous_secret_expires_at: datetime | None = field(
        description="after a rotation, until when the previous secret signs too"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: webhooks.Endpoint) -> WebhookEndpoint:
        return project(cls, endpoint)


@attrs.frozen(kw_only=True)
class WebhookEndpointWithSecret(WebhookEndpoint):
    """An endpoint just created or whose secret was just rotated; `secret` is shown only here."""

    secret: str = field(
        description="`whsec_<base64>`: verify each delivery's `webhook-signature` with it "
        "(Standard Webhooks)"
    )

    @classmethod
    def with_secret(cls, created: webhooks.WithSecret) -> WebhookEndpointWithSecret:
        return project(cls, created.endpoint, secret=created.secret)


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One event sent (or to be sent) to one endpoint."""

    id: str
    endpoint_id: str
    event_id: int = field(description="the event's id in the workspace's event log")
    event_type: str
    webhook_id: str = field(
        description="the `webhook-id` header, the same on every attempt: dedupe on it"
    )
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None = field(description="while pending: the next attempt")
    last_status_code: int | None = field(description="the HTTP status of the last attempt")
    last_error: str | None = field(description="why the last attempt failed")
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, delivery: webhooks.Delivery) -> WebhookDelivery:
        return project(cls, delivery)


@attrs.frozen(kw_only=True)
class CreateWebhookEndpoint:
    url: str = field(
        description="`https://` (`http://` and loopback hosts too with "
        "DISPATCH_WEBHOOK_ALLOW_LOOPBACK), no user name or password, at most 2048 characters"
    )
    event_types: tuple[str, ...] | None = field(default=None, description=_TYPES_TEXT)
    enabled: bool = True
    description: str | None = field(default=None, maxLength=webhooks.MAX_DESCRIPTION_CHARS)


@attrs.frozen(kw_only=True)
class UpdateWebhookEndpoint:
    """Fields left out (or null) are kept. Enabling a disabled endpoint clears its failures,
    and its pending deliveries are sent at once."""

    url: str | None = None
    event_types: tuple[str, ...] | None = field(default=None, description=_TYPES_TEXT)
    enabled: bool | None = None
    description: str | None = field(
        default=None, maxLength=webhooks.MAX_DESCRIPTION_CHARS, description='"": none'
    )


def _types(types: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if types is not None and EVERY_TYPE in types:
        return None
    return webhooks.check_event_types(types, event_log.TYPES)


def _url(call: Call[Any], url: str) -> str:
    return webhooks.check_url(url, allow_loopback=call.services.settings.webhooks.allow_loopback)


async def create_endpoint(call: Call[CreateWebhookEndpoint]) -> WebhookEndpointWithSecret:
    body = call.body
    url = _url(call, body.url)
    types = _types(body.event_types)
    description = webhooks.check_description(body.description)
    created = await call.services.db.run_write(
        webhooks.create_endpoint,
        call.principal.workspace_id,
        url=url,
        event_types=types,
        enabled=body.enabled,
        description=description,
        now=utcnow(),
    )
    return WebhookEndpointWithSecret.with_secret(created)


async def list_endpoints(call: Call[None]) -> Page[WebhookEndpoint]:
    found = await call.services.db.run_read(
        webhooks.list_endpoints,
        call.principal.workspace_id,
        limit=call.query(params.LIMIT),
        cursor=call.query(ENDPOINT_CURSOR),
    )
    return Page.of(found, WebhookEndpoint.of)


async def get_endpoint(call: Call[None]) -> WebhookEndpoint:
    found = await call.services.db.run_read(
        webhooks.get_endpoint, call.principal.workspace_id, call.path("endpoint_id")
    )
    return WebhookEndpoint.of(found)


async def update_endpoint(call: Call[UpdateWebhookEndpoint]) -> WebhookEndpoint:
    body = call.body
    changes: dict[str, Any] = {"enabled": body.enabled}
    if body.url is not None:
        changes["url"] = _url(call, body.url)
    if body.event_types is not None:
        changes["event_types"] = _types(body.event_types)
    if body.description is not None:
        changes["description"] = webhooks.check_description(body.description)
    updated = await call.services.db.run_write(
        webhooks.update_endpoint,
        call.principal.workspace_id,
        call.path("endpoint_id"),
        now=utcnow(),
        **changes,
    )
    return WebhookEndpoint.of(updated)


async def delete_endpoint(call: Call[None]) -> WebhookEndpoint:
    deleted = await call.services.db.run_write(
        webhooks.delete_endpoint, call.principal.workspace_id, call.path("endpoint_id")
    )
    return WebhookEndpoint.of(deleted)


async def rotate_secret(call: Call[None]) -> WebhookEndpointWithSecret:
    rotated = await call.services.db.run_write(
        webhooks.rotate_secret, call.principal.workspace_id, call.path("endpoint_id"), now=utcnow()
    )
    return WebhookEndpointWithSecret.with_secret(rotated)


async def list_deliveries(call: Call[None]) -> Page[WebhookDelivery]:
    found = await call.services.db.run_read(
        webhooks.list_deliveries,
        call.principal.workspace_id,
        call.path("endpoint_id"),
        limit=call.query(params.LIMIT),
        cursor=call.query(DELIVERY_CURSOR),
        status=call.query(STATUS),
    )
    return Page.of(found, WebhookDelivery.of)


async def replay_delivery(call: Call[None]) -> WebhookDelivery:
    replayed = await call.services.db.run_write(
        webhooks.replay,
        call.principal.workspace_id,
        call.path("endpoint_id"),
        call.path("delivery_id"),
        now=utcnow(),
    )
    return WebhookDelivery.of(replayed)


_PATH = "/v1/webhooks/endpoints"
_ONE = _PATH + "/{endpoint_id}"

ENDPOINTS = [
    Endpoint(
        method="POST",
        path=_PATH,
        handler=create_endpoint,
        summary="Register a webhook endpoint; its secret is shown in this answer only",
        scope=Scope.ACCOUNT,
        body=CreateWebhookEndpoint,
        response=WebhookEndpointWithSecret,
        status=201,
    ),
    Endpoint(
        method="GET",
        path=_PATH,
        handler=list_endpoints,
        summary="The workspace's webhook endpoints, oldest first",
        scope=Scope.ACCOUNT,
        response=Page[WebhookEndpoint],
        query=(params.LIMIT, ENDPOINT_CURSOR),
    ),
    Endpoint(
        method="GET",
        path=_ONE,
        handler=get_endpoint,
        summary="A webhook endpoint (without its secret)",
        scope=Scope.ACCOUNT,
        response=WebhookEndpoint,
    ),
    Endpoint(
        method="PATCH",
        path=_ONE,
        handler=update_endpoint,
        summary="Change a webhook endpoint's URL, event types, description, or enable it",
        scope=Scope.ACCOUNT,
        body=UpdateWebhookEndpoint,
        response=WebhookEndpoint,
    ),
    Endpoint(
        method="DELETE",
        path=_ONE,
        handler=delete_endpoint,
        summary="Delete a webhook endpoint and its delivery log",
        scope=Scope.ACCOUNT,
        response=WebhookEndpoint,
    ),
    Endpoint(
        method="POST",
        path=_ONE + "/rotate-secret",
        handler=rotate_secret,
        summary="A new secret for the endpoint; the previous one signs beside it for 24 hours",
        scope=Scope.ACCOUNT,
        response=WebhookEndpointWithSecret,
    ),
    Endpoint(
        method="GET",
        path=_ONE + "/deliveries",
        handler=list_deliveries,
        summary="The endpoint's delivery log, newest first",
        scope=Scope.ACCOUNT,
        response=Page[WebhookDelivery],
        query=(params.LIMIT, DELIVERY_CURSOR, STATUS),
    ),
    Endpoint(
        method="POST",
        path=_ONE + "/deliveries/{delivery_id}/replay",
        handler=replay_delivery,
        summary="Send a delivery again now, with a fresh set of retries",
        scope=Scope.ACCOUNT,
        response=WebhookDelivery,
    ),
]
