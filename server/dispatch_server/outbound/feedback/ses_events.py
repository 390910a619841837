"""SES sending events, read from the Message of a verified SNS Notification.

Two forms arrive. A configuration set's event destination publishes `eventType` (Send,
Delivery, Bounce, Complaint, Reject, DeliveryDelay; Open, Click, Rendering Failure and
Subscription are not read here) with the message's tags; an identity's feedback
notifications publish `notificationType` (Bounce, Complaint, Delivery) without tags. Both
carry a `mail` object (SES's messageId, destination, tags) and one object for the event
("Contents of event data that Amazon SES publishes to Amazon SNS", "Amazon SNS notification
contents for Amazon SES" in the SES developer guide).

A message that is not such an event reads as None, never as an exception: it came from SNS,
whose retries would bring the same unreadable text again, so it is answered 2xx and dropped.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import attrs

from dispatch_server.core.clock import parse_timestamp
from dispatch_server.core.text import is_storable

SEND = "send"
DELIVERY = "delivery"
BOUNCE = "bounce"
COMPLAINT = "complaint"
REJECT = "reject"
DELIVERY_DELAY = "delivery_delay"

# The tag our SES transport puts on each send, naming its outbound_messages row.
OUTBOUND_ID_TAG = "dispatch_outbound_id"

MAX_EVENT_CHARS = 512 * 1024  # SNS carries 256 KiB; SES events are a few KiB
MAX_RECIPIENTS = 100  # SES takes 50 a message
MAX_DETAIL_CHARS = 1000
_MAX_ADDRESS = 320

_EVENT_TYPES = {
    "Send": SEND,
    "Delivery": DELIVERY,
    "Bounce": BOUNCE,
    "Complaint": COMPLAINT,
    "Reject": REJECT,
    "DeliveryDelay": DELIVERY_DELAY,
}
_NOTIFICATION_TYPES = {"Bounce": BOUNCE, "Complaint": COMPLAINT, "Delivery": DELIVERY}
# The event's own object, and where in it the recipients are: a list of objects with an
# emailAddress, or (delivery) a list of addresses. Send and Reject name none: theirs are the
# mail's destination.
_OBJECTS = {
    SEND: "send",
    DELIVERY: "delivery",
    BOUNCE: "bounce",
    COMPLAINT: "complaint",
    REJECT: "reject",
    DELIVERY_DELAY: "deliveryDelay",
}
_RECIPIENTS = {
    BOUNCE: ("bouncedRecipients", "emailAddress"),
    COMPLAINT: ("complainedRecipients", "emailAddress"),
    DELIVERY: ("recipients", None),
    DELIVERY_DELAY: ("delayedRecipients", "emailAddress"),
}
# What is kept for the audit trail: fields of the event's object, then fields of its first
# recipient entry (which say why that recipient bounced or waits).
_DETAIL = {
    SEND: ((), ()),
    DELIVERY: (("smtpResponse", "reportingMTA", "processingTimeMillis"), ()),
    BOUNCE: (
        ("bounceType", "bounceSubType", "feedbackId", "reportingMTA"),
        ("action", "status", "diagnosticCode"),
    ),
    COMPLAINT: (
        ("complaintFeedbackType", "complaintSubType", "feedbackId", "userAgent", "arrivalDate"),
        (),
    ),
    REJECT: (("reason",), ()),
    DELIVERY_DELAY: (
        ("delayType", "expirationTime", "reportingMTA"),
        ("status", "diagnosticCode"),
    ),
}
_NAMED_ADDRESS = re.compile(r"[^<>]*<([^<>]+)>\s*")  # "Name <address>"
_ID = re.compile(r"[!-~]{1,256}")  # SES message ids and our outbound ids: printable ASCII
_UNSAFE_ADDRESS = re.compile(r"[\s\x00-\x1f\x7f-\x9f<>\"\u2028\u2029]")


@attrs.frozen
class SesEvent:
    """One SES event about one sent message and the recipients it concerns."""

    kind: str  # send | delivery | bounce | complaint | reject | delivery_delay
    ses_message_id: str  # mail.messageId: what SES answered the send with
    recipients: tuple[str, ...]  # lower-cased, each once, in the order SES gave them
    permanent: bool  # a Permanent bounce: never send to these recipients again
    occurred_at: datetime  # the event's timestamp, else the mail's; aware, UTC
    dispatch_outbound_id: str | None  # our tag on the send; identity notifications lack it
    detail: dict[str, str] = attrs.field(factory=dict, hash=False)  # for the audit trail


def parse_ses_event(message: str) -> SesEvent | None:
    """The SES event in an SNS Notification's Message; None for anything else (another
    event type, a field missing or of the wrong type, not JSON)."""
    if len(message) > MAX_EVENT_CHARS:
        return None
    try:
        document = json.loads(message)
    except (RecursionError, ValueError):  # ValueError: bad JSON, an integer too long to read
        return None
    if not isinstance(document, dict):
        return None
    kind = _kind(document)
    mail = document.get("mail")
    if kind is None or not isinstance(mail, dict):
        return None
    event = document.get(_OBJECTS[kind])
    if not isinstance(event, dict):
        if kind in _RECIPIENTS:
            return None
        event = {}  # Send's object is always empty; Reject's only says why
    ses_message_id = _id(mail.get("messageId"))
    if kind in _RECIPIENTS:
        listed, key = _RECIPIENTS[kind]
        recipients = _addresses(event.get(listed), key)
    else:
        recipients = _addresses(mail.get("destination"), None)
    occurred_at = _moment(event.get("timestamp")) or _moment(mail.get("timestamp"))
    if not ses_message_id or not recipients or occurred_at is None:
        return None
    return SesEvent(
        kind=kind,
        ses_message_id=ses_message_id,
        recipients=recipients,
        permanent=kind == BOUNCE and event.get("bounceType") == "Permanent",
        occurred_at=occurred_at,
        dispatch_outbound_id=_outbound_id(mail.get("tags")),
        detail=_detail(kind, event),
    )


def _kind(document: dict[str, Any]) -> str | None:
    if "eventType" in document:
        event_type = document["eventType"]
        return _EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    notification_type = document.get("notificationType")
    if isinstance(notification_type, str):
        return _NOTIFICATION_TYPES.get(notification_type)
    return None


def _addresses(items: object, key: str | None) -> tuple[str, ...]:
    """The addresses in a list of addresses (key None) or of objects holding one at `key`:
    lower-cased, each once, at most MAX_RECIPIENTS; entries that are not addresses are
    skipped."""
    if not isinstance(items, list):
        return ()
    found: dict[str, None] = {}
    for item in items[: MAX_RECIPIENTS * 10]:
        value = item
        if key is not None:
            value = item.get(key) if isinstance(item, dict) else None
        address = _address(value)
        if address is not None:
            found.setdefault(address)
            if len(found) == MAX_RECIPIENTS:
                break
    return tuple(found)


def _address(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 2 * _MAX_ADDRESS:
        return None
    named = _NAMED_ADDRESS.fullmatch(value)
    address = (named.group(1) if named else value).strip().lower()
    if (
        len(address) > _MAX_ADDRESS
        or "@" not in address
        or _UNSAFE_ADDRESS.search(address)
        or not is_storable(address)
    ):
        return None
    return address


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _outbound_id(tags: object) -> str | None:
    """mail.tags["dispatch_outbound_id"][0]: SES gives each tag as a list of values."""
    if not isinstance(tags, dict):
        return None
    values = tags.get(OUTBOUND_ID_TAG)
    if not isinstance(values, list) or not values:
        return None
    return _id(values[0])


def _detail(kind: str, event: dict[str, Any]) -> dict[str, str]:
    own, per_recipient = _DETAIL[kind]
    sources: list[tuple[dict[str, Any], tuple[str, ...]]] = [(event, own)]
    if per_recipient:
        entries = event.get(_RECIPIENTS[kind][0])
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            sources.append((entries[0], per_recipient))
    detail: dict[str, str] = {}
    for source, names in sources:
        for name in names:
            value = source.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value) if abs(value) < 10**18 else None
            text = _text(value, MAX_DETAIL_CHARS, truncate=True)
            if text:
                detail[name] = text
    return detail


def _id(value: object) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _text(value: object, limit: int, *, truncate: bool = False) -> str | None:
    """A string fit to store: no NUL, no lone surrogate; longer than `limit`, cut there (or
    None, when not `truncate`)."""
    if not isinstance(value, str) or not is_storable(value):
        return None
    if len(value) > limit:
        return value[:limit] if truncate else None
    return value
