"""Webhook endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class WebhookEndpoint:
    """Where the workspace's events are POSTed, signed (Standard Webhooks). `event_types`
    None: every type. `disabled_reason` says why it is not `enabled` (by its owner, or after
    `consecutive_failures` deliveries failed after every retry)."""

    id: str
    url: str
    description: str | None
    event_types: tuple[str, ...] | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class WebhookEndpointWithSecret(WebhookEndpoint):
    """An endpoint just created, or whose secret was just rotated: `secret` (`whsec_...`,
    for `dispatch_client.webhooks.verify`) is shown only here."""

    secret: str


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One event sent, or to be sent, to one endpoint. `webhook_id` is the `webhook-id`
    header, the same on every attempt; `status` is `pending`, `succeeded` or `failed` (a
    `str`, so a newer server's states still decode)."""

    id: str
    endpoint_id: str
    event_id: int
    event_type: str
    webhook_id: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
