"""POST /v1/webhooks/stripe: Stripe's signed events, which alone grant what a card paid for.

Nothing is acted on before `Stripe-Signature` is verified (see `billing.stripe_billing`). An
event is recorded in `billing_events` once per event id, in the same transaction as what it
does, so a retried or reordered delivery grants nothing twice. Authentic events that grant
nothing (another type, metadata naming no workspace here, an amount below the price) get a
200 with the outcome, so Stripe stops delivering them; the record says why.

A refund in full or a dispute revokes what its PaymentIntent granted. Stripe may deliver it
before the session's completion: it is recorded all the same (reason `refunded: pi_...` or
`disputed: pi_...`), and a completion of that PaymentIntent arriving later grants nothing
(`refused`, reason `payment_taken_back: ...`).
"""

from __future__ import annotations

from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.billing import entitlements, events, stripe_billing
from dispatch_server.billing.events import Outcome
from dispatch_server.billing.stripe_billing import (
    Grant,
    Refuse,
    Revoke,
    StripeEvent,
    StripeOutcome,
)
from dispatch_server.core.clock import utcnow
from dispatch_server.db import tables as t
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.params import body_too_large, read_body
from dispatch_server.http.shapes import field
from dispatch_server.ratelimit.policy import Policy

MAX_EVENT_BYTES = 512 * 1024  # Stripe's events are a few KB


@attrs.frozen(kw_only=True)
class StripeAnswer:
    received: bool
    outcome: str = field(description="`granted`, `revoked`, `ignored` or `refused`")
    duplicate: bool = field(description="this event id was received before; nothing done")
    reason: str | None = None


async def stripe_webhook(call: Call[None]) -> StripeAnswer:
    settings = call.services.settings.billing
    raw = await read_body(
        call.request, limit=MAX_EVENT_BYTES, too_large=body_too_large(MAX_EVENT_BYTES)
    )
    event = stripe_billing.read_event(raw, call.request.headers.get("stripe-signature"), settings)
    outcome = stripe_billing.payment_of(event, settings)
    return await call.services.db.run_write(_apply, event, outcome, now=utcnow())


def _apply(
    conn: sa.Connection, event: StripeEvent, outcome: StripeOutcome, *, now: datetime
) -> StripeAnswer:
    kind: Outcome
    workspace_id = product = reason = None
    if isinstance(outcome, Grant | Revoke) and outcome.payment_intent is not None:
        events.lock_payment(conn, outcome.payment_intent)
    if isinstance(outcome, Grant):
        kind, workspace_id, product = "granted", outcome.workspace_id, outcome.product
        known = conn.scalar(sa.select(t.workspaces.c.id).where(t.workspaces.c.id == workspace_id))
        taken = (
            None
            if outcome.payment_intent is None
            else events.taken_back(conn, outcome.payment_intent, stripe_billing.REVOKING_EVENTS)
        )
        if known is None:
            kind, reason = "refused", f"metadata.workspace_id {workspace_id!r} is no workspace here"
        elif taken is not None:
            # Stripe does not order its events: the refund or dispute came first.
            kind = "refused"
            reason = f"payment_taken_back: {outcome.payment_intent} was {taken} before this event"
    elif isinstance(outcome, Refuse):
        kind, workspace_id, product = "refused", outcome.workspace_id, outcome.product
        reason = f"{outcome.reason}: {outcome.detail}"
    elif isinstance(outcome, Revoke):
        kind, reason = "revoked", events.taken_back_reason(outcome.reason, outcome.payment_intent)
    else:
        kind, reason = "ignored", outcome.reason
    new = events.record(
        conn,
        provider="stripe",
        event_id=event.id,
        event_type=event.type,
        workspace_id=workspace_id,
        product=product,
        outcome=kind,
        reason=reason,
        payload=event.payload,
        now=now,
    )
    if not new:
        previous = events.outcome_of(conn, "stripe", event.id) or kind
        return StripeAnswer(received=True, outcome=previous, duplicate=True)
    if isinstance(outcome, Grant) and kind == "granted":
        entitlements.grant(
            conn,
            workspace_id=outcome.workspace_id,
            product=outcome.product,
            source="stripe",
            source_ref=outcome.session_id,
            payment_ref=outcome.payment_intent,
            now=now,
        )
    if isinstance(outcome, Revoke):
        revoked = entitlements.revoke_payment(
            conn, payment_ref=outcome.payment_intent, reason=outcome.reason, now=now
        )
        if revoked is None:
            # Nothing granted (yet): the event stays recorded with its reason, which is what
            # refuses a checkout of this PaymentIntent completed later (`events.taken_back`).
            kind = "ignored"
            events.set_outcome(conn, "stripe", event.id, kind, reason)
    return StripeAnswer(received=True, outcome=kind, duplicate=False, reason=reason)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/webhooks/stripe",
        handler=stripe_webhook,
        summary="Stripe's events: a paid Checkout Session grants its product",
        description="Verified by `Stripe-Signature` (STRIPE_WEBHOOK_SECRET, several while one "
        "is rotated) before anything is done; each event id is acted on once.",
        scope=None,
        response=StripeAnswer,
        rate_limit=Policy.WEBHOOK,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
]
