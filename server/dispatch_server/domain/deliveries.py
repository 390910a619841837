"""Delivery feedback: what a provider reports about sent mail after it took it (SES events
through SNS), applied once per notification. Each event is stored; it moves its message's
state forward (a delivery never hides a bounce), and a permanent bounce or a complaint
suppresses the recipients for the message's workspace. Events for messages this server
does not know are stored for audit and change nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from dispatch_server.core.ids import new_id
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.domain import sends, suppressions
from dispatch_server.outbound.feedback.ses_events import SesEvent

Applied = Literal["stored", "duplicate"]

_SENDS = t.outbound_messages.c
# How far along a sent message is; feedback only ever moves it further. The final states of
# a send that never went (rejected, failed, suppressed, blocked) are not moved by feedback, but for
# a Reject event, which says SES refused it after taking it.
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "bounced": 3, "complained": 4}
# Feedback that goes to the workspace's event log, as the type it goes there as (a transient
# bounce does not: SES tries again).
_LOGGED = {
    "delivery": "message.delivered",
    "bounce": "message.bounced",
    "complaint": "message.complained",
    "reject": "message.failed",
}
_SUPPRESSION_LISTS = frozenset({"OnAccountSuppressionList", "OnSuppressionList"})

_INSERT_EVENT = dialect.per_dialect(
    lambda insert: insert(t.outbound_events).on_conflict_do_nothing(
        index_elements=[t.outbound_events.c.feedback_id]
    )
)


def _state(event: SesEvent) -> sends.SendStatus | None:
    """The state the event puts its message in; None: the state stays."""
    if event.kind == "delivery":
        return "delivered"
    if event.kind == "bounce" and event.permanent:
        suppressed = event.detail.get("bounceSubType") in _SUPPRESSION_LISTS
        return "suppressed" if suppressed else "bounced"
    if event.kind == "complaint":
        return "complained"
    if event.kind == "reject":
        return "rejected"
    return None  # send, delivery_delay, a transient bounce


def _find(conn: sa.Connection, event: SesEvent) -> Any:
    """The sent message of the event: by our id in its tags, else by SES's message id."""
    columns = sa.select(_SENDS.id, _SENDS.workspace_id, _SENDS.inbox_id, _SENDS.status)
    if event.dispatch_outbound_id:
        row = conn.execute(columns.where(_SENDS.id == event.dispatch_outbound_id)).first()
        if row is not None:
            return row
    return conn.execute(columns.where(_SENDS.provider_message_id == event.ses_message_id)).first()


def apply_feedback(
    conn: sa.Connection, event: SesEvent, *, feedback_id: str, now: datetime
) -> Applied:
    """Store the event once per `feedback_id` (the SNS MessageId) and apply it."""
    found = _find(conn, event)
    inserted = conn.execute(
        _INSERT_EVENT[dialect.name(conn)],
        {
            "id": new_id(),
            "outbound_message_id": found.id if found else None,
            "workspace_id": found.workspace_id if found else None,
            "source": "ses",
            "event_type": event.kind,
            "recipients": list(event.recipients),
            "detail": dict(event.detail),
            "provider_message_id": event.ses_message_id,
            "feedback_id": feedback_id,
            "occurred_at": event.occurred_at,
            "created_at": now,
        },
    )
    if inserted.rowcount != 1:
        return "duplicate"
    if found is None:
        return "stored"
    logged = _LOGGED.get(event.kind)
    if logged is not None and (event.kind != "bounce" or event.permanent):
        sends.log_outcome(
            conn,
            workspace_id=found.workspace_id,
            inbox_id=found.inbox_id,
            send_id=found.id,
            type=logged,
            recipients=event.recipients,
            status=_state(event) or found.status,
            detail=event.detail,
            now=now,
        )
    state = _state(event)
    if state is not None and _moves(found.status, state):
        conn.execute(
            t.outbound_messages.update()
            .where(_SENDS.id == found.id)
            .values(status=state, updated_at=now)
        )
    if event.kind == "complaint" or (event.kind == "bounce" and event.permanent):
        reason: suppressions.Reason = "complaint" if event.kind == "complaint" else "bounce"
        suppressions.suppress(
            conn,
            found.workspace_id,
            list(event.recipients),
            reason=reason,
            detail=event.detail.get("diagnosticCode")
            or event.detail.get("complaintFeedbackType")
            or event.detail.get("bounceSubType"),
            outbound_message_id=found.id,
            now=now,
        )
    return "stored"


def _moves(current: str, new: str) -> bool:
    if new == "rejected":
        return current in _RANK
    if new == "suppressed":
        return current in _RANK and current != "complained"
    return current in _RANK and _RANK[new] > _RANK[current]
