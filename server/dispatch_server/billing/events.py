"""`billing_events`: every payment notice, recorded once per (provider, event id).

Stripe delivers an event again for days until it gets a 2xx, and out of order; recording the
event and acting on it in one transaction, keyed on its id, makes a retry a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from dispatch_server.core.ids import new_id
from dispatch_server.db import dialect
from dispatch_server.db import tables as t

Provider = Literal["stripe", "x402"]
Outcome = Literal["granted", "revoked", "ignored", "refused"]

_RECORD = dialect.per_dialect(
    lambda insert: insert(t.billing_events).on_conflict_do_nothing(
        index_elements=[t.billing_events.c.provider, t.billing_events.c.provider_event_id]
    )
)


def record(
    conn: sa.Connection,
    *,
    provider: Provider,
    event_id: str,
    event_type: str,
    workspace_id: str | None,
    product: str | None,
    outcome: Outcome,
    reason: str | None,
    payload: Any,
    now: datetime,
) -> bool:
    """Record the event; False when it was recorded before (then do nothing more for it)."""
    inserted = conn.execute(
        _RECORD[dialect.name(conn)],
        {
            "id": new_id(),
            "provider": provider,
            "provider_event_id": event_id[:255],
            "event_type": event_type[:100],
            "workspace_id": workspace_id,
            "product": product,
            "outcome": outcome,
            "reason": reason,
            "payload": payload,
            "created_at": now,
        },
    )
    return inserted.rowcount == 1


def outcome_of(conn: sa.Connection, provider: Provider, event_id: str) -> str | None:
    """What a recorded event did, or None when it is not recorded."""
    found: str | None = conn.scalar(
        sa.select(t.billing_events.c.outcome).where(
            t.billing_events.c.provider == provider,
            t.billing_events.c.provider_event_id == event_id[:255],
        )
    )
    return found


def lock_payment(conn: sa.Connection, payment_intent: str) -> None:
    """Hold the PaymentIntent until the transaction ends, so that its refund and its
    session's completion, delivered at once, act one after the other and each sees the
    other's record. PostgreSQL: a transaction-scoped advisory lock on the id's hash; SQLite
    runs one write at a time already."""
    if dialect.name(conn) == "postgresql":
        conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(payment_intent, 0)))
        )


def taken_back_reason(reason: str, payment_intent: str) -> str:
    """The `reason` recorded for a refund or dispute (`reason` is `refunded` or `disputed`)
    of `payment_intent`, whether it revoked something or granted nothing yet: the one form
    `taken_back` looks for."""
    return f"{reason}: {payment_intent}"


TAKEN_BACK_REASONS = ("refunded", "disputed")


def taken_back(conn: sa.Connection, payment_intent: str, event_types: frozenset[str]) -> str | None:
    """`refunded` or `disputed` when a Stripe event of `event_types` took `payment_intent`
    back, before or after it granted anything; None when none did."""
    reasons = {taken_back_reason(reason, payment_intent): reason for reason in TAKEN_BACK_REASONS}
    found = conn.scalar(
        sa.select(t.billing_events.c.reason)
        .where(
            t.billing_events.c.provider == "stripe",
            t.billing_events.c.event_type.in_(sorted(event_types)),
            t.billing_events.c.reason.in_(sorted(reasons)),
        )
        .limit(1)
    )
    return None if found is None else reasons[found]


def set_outcome(
    conn: sa.Connection, provider: Provider, event_id: str, outcome: Outcome, reason: str | None
) -> None:
    """Correct what a recorded event did, once acting on it showed it (in its transaction)."""
    conn.execute(
        sa.update(t.billing_events)
        .where(
            t.billing_events.c.provider == provider,
            t.billing_events.c.provider_event_id == event_id[:255],
        )
        .values(outcome=outcome, reason=reason)
    )
