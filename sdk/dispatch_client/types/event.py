"""The events of the event log, as `d.events.watch()` yields them.

Every event is an `Event`: its id (increasing per workspace), type, time, inbox and the raw
`data` object. `payload` is `data` decoded into the model of its type (`MessageReceived`,
`MessageStatusChanged`, `InboxCreated`, `EntitlementGranted`, `EntitlementRevoked`), or None
for a type this SDK does not know yet: a newer server may add types, and their events still
arrive, raw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import attrs

EVENT_TYPES: Final = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
    "message.failed",
    "inbox.created",
    "entitlement.granted",
    "entitlement.revoked",
)


@attrs.frozen(kw_only=True)
class EventOtp:
    """The one-time code a received message carries: `code` as given (a code with letters is
    case-sensitive) and `kind`, what it is made of ("digits", "letters" or "mixed")."""

    code: str
    kind: str


@attrs.frozen(kw_only=True)
class MessageReceived:
    """`message.received`: mail arrived in an inbox (`from_` is the JSON key `from`).

    `otp` and `link` are the code and the primary link found in it, if any, so an agent can
    act without fetching the message. `folder` is "inbox", "spam" or "quarantine".
    """

    inbox_id: str
    message_id: str
    from_: str | None
    to: tuple[str, ...]
    subject: str | None
    folder: str
    received_at: datetime
    otp: EventOtp | None = None
    link: str | None = None


@attrs.frozen(kw_only=True)
class MessageStatusChanged:
    """`message.sent`, `message.delivered`, `message.bounced`, `message.complained` or
    `message.failed`: what became of mail an inbox sent (`sent_id`, as in `d.sent.get`).

    `recipients` are those the change is about, `status` the sent message's state, `detail`
    what the provider reported (bounce type, diagnostic...), as it came. A `message.failed`
    has `status` `rejected`, `failed`, or `suppressed` (every recipient was suppressed before
    it went out; nothing was sent).
    """

    inbox_id: str
    sent_id: str
    recipients: tuple[str, ...]
    status: str
    detail: dict[str, Any]


@attrs.frozen(kw_only=True)
class InboxCreated:
    """`inbox.created`: a new inbox in the workspace."""

    inbox_id: str
    address: str
    display_name: str | None = None


@attrs.frozen(kw_only=True)
class EntitlementGranted:
    """`entitlement.granted`: the workspace got a product (`source`: "stripe", "x402"...,
    `source_ref`: the payment's reference there)."""

    product: str
    source: str
    source_ref: str


@attrs.frozen(kw_only=True)
class EntitlementRevoked:
    """`entitlement.revoked`: a product was taken back (`reason`: "refunded", "disputed")."""

    product: str
    source: str
    reason: str


EventPayload = (
    MessageReceived | MessageStatusChanged | InboxCreated | EntitlementGranted | EntitlementRevoked
)

PAYLOADS: Final[dict[str, type[EventPayload]]] = {
    "message.received": MessageReceived,
    "message.sent": MessageStatusChanged,
    "message.delivered": MessageStatusChanged,
    "message.bounced": MessageStatusChanged,
    "message.complained": MessageStatusChanged,
    "message.failed": MessageStatusChanged,
    "inbox.created": InboxCreated,
    "entitlement.granted": EntitlementGranted,
    "entitlement.revoked": EntitlementRevoked,
}


@attrs.frozen(kw_only=True)
class Event:
    """One event of the workspace's log.

    `id` is its place in the log (increasing per workspace: resume after it with
    `watch(after=...)`), `type` e.g. "message.received", `inbox_id` the inbox it is about
    (None for workspace events such as `entitlement.granted`), `data` the payload as JSON,
    and `payload` the same decoded into its type's model, or None for a type this SDK does
    not know.
    """

    id: int
    type: str
    created_at: datetime
    inbox_id: str | None
    data: dict[str, Any]
    payload: EventPayload | None = None
