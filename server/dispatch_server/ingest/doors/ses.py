"""Mail that Amazon SES received for us, by either route: the worker (SES stores it in S3, S3
notifies SQS) and SES receipt notifications through SNS. What is SES's is read here, once for
both: the message id, the envelope, a receipt notification, and what becomes of mail that
cannot be stored.

**The message id.** SES's S3 action stores each message under `<objectKeyPrefix><messageId>`
("Deliver to S3 bucket action" in the SES developer guide), so the key's last path segment
is SES's messageId, the same `mail.messageId` its notifications carry. It is the provider
id of the ingest, so a redelivery of the notification (SQS is at least once) stores nothing
twice, whichever route brought it.

**The envelope.** An S3 event names an object, not its recipients, and SES adds no header
listing them. SES stamps its own `Received` header on top, which ends `with SMTP id <messageId>
for <recipient>;` when the message had one recipient: that recipient is taken when the id is
this message's. Otherwise (several recipients) the message's To and Cc addresses at the inbox
domain or a verified custom domain are taken (scanned for, where the headers cannot be
parsed), which misses Bcc recipients; the SNS route has SES's own list
(`receipt.recipients`) and misses nothing. The sender is SES's `Return-Path`. SES's spam,
virus, SPF, DKIM and DMARC verdicts come from the notification's receipt, else from the
`X-SES-*` headers it adds (`mail.verdicts.from_ses`).

**Stored as unparseable, or dropped; never retried.** SES accepted the mail already, so nobody
can be told it was refused. Mail that cannot be parsed (MIME nested or split past the caps,
address headers nobody can read, no header at all) is stored anyway, quarantined with its
headers and raw MIME only (`Envelope.keep_unparseable`). Mail for no inbox here, over a
workspace's daily quota or too large is recorded (`inbound_rejections`) with a log line and
dropped, since trying again would change nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Literal

import attrs

from dispatch_client.extract.mime import header_block
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.domain import inbound_rejections
from dispatch_server.domain.inbound_rejections import BUCKET_MISMATCH, Rejection
from dispatch_server.ingest.doors.s3 import InboundBucket, ObjectCreated, ObjectTooLarge, location
from dispatch_server.ingest.pipeline import Door, Envelope, ingest
from dispatch_server.mail.addresses import (
    MAX_ADDRESS_HEADER_CHARS,
    UnreadableAddresses,
    header_recipients,
)
from dispatch_server.mail.verdicts import from_ses
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server.ses")

Outcome = Literal["stored", "duplicate", "refused"]

# The object SES writes when a receipt rule's S3 action is set up: no mail.
SETUP_NOTIFICATION = "AMAZON_SES_SETUP_NOTIFICATION"
MAX_MESSAGE_ID = 256
_MAX_ADDRESS = 320
_HEADER_PARSER = BytesHeaderParser(policy=compat32)
_RECEIVED_FOR = re.compile(
    r"\bwith SMTP id (?P<id>[^\s;]+)\s+for\s+<?(?P<recipient>[^\s;<>]+@[^\s;<>]+)>?\s*;", re.I
)
_MAX_RECEIVED_CHARS = 2000
_ADDRESS_OK = re.compile(r"[^\s\x00-\x1f\x7f<>\"]+@[^\s\x00-\x1f\x7f<>\"@]+")
_ID_OK = re.compile(r"[!-~]{1,256}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ADDRESS_WORD = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,255}")


def message_id_of_key(key: str) -> str | None:
    """SES's messageId of the object at `key`: its last path segment. None for a key that
    ends in `/` (a folder marker) or whose last segment holds control characters."""
    segment = key.rpartition("/")[2]
    if not segment or len(segment) > MAX_MESSAGE_ID or _CONTROL.search(segment):
        return None
    return segment


def envelope_of(
    raw: bytes,
    message_id: str,
    *,
    domain: str,
    max_recipients: int,
    door: Door,
    custom_domains: frozenset[str] = frozenset(),
) -> Envelope:
    """The envelope of a message SES stored, read from the headers SES put on it (see the
    module's docstring); the header recipients taken are those at `domain` or at one of the
    verified `custom_domains`."""
    headers = _HEADER_PARSER.parsebytes(header_block(raw))
    recipients: tuple[str, ...] = ()
    received = headers.get_all("Received") or []
    if received:
        top = " ".join(str(received[0])[:_MAX_RECEIVED_CHARS].split())
        found = _RECEIVED_FOR.search(top)
        if found is not None and found["id"] == message_id:
            recipients = (found["recipient"],)
    if not recipients:
        ours = {domain.lower(), *custom_domains}
        try:
            listed = header_recipients(raw)
        except UnreadableAddresses:
            listed = _scanned_recipients(headers)
        recipients = tuple(
            dict.fromkeys(a for a in listed if a.rpartition("@")[2].lower().rstrip(".") in ours)
        )
    return_path = headers.get("Return-Path")
    mail_from = str(return_path).strip().strip("<>").strip() if return_path else None
    return Envelope(
        recipients=recipients[:max_recipients],
        mail_from=mail_from or None,
        provider_message_id=message_id,
        # No notification comes with mail stored in S3: SES's X-SES-* headers say the rest.
        verdicts=from_ses(None, raw),
        door=door,
        keep_unparseable=True,
    )


def _scanned_recipients(headers: Message) -> tuple[str, ...]:
    """The address-like words written anywhere in To and Cc, for headers that cannot be
    parsed (comments nested a thousand deep, say): a scan, not a parse, so nothing in them
    can make it fail. The caller keeps those at the inbox domain, as for parsed ones."""
    return tuple(
        word
        for name in ("To", "Cc")
        for value in headers.get_all(name, [])
        for word in _ADDRESS_WORD.findall(str(value)[:MAX_ADDRESS_HEADER_CHARS])
    )


# --- receipt notifications (SNS) -------------------------------------------------------


@attrs.frozen
class SesReceipt:
    """An SES receipt notification ("Received"): the mail inline, or where SES stored it."""

    message_id: str
    recipients: tuple[str, ...]
    mail_from: str | None
    content: bytes | None  # the raw message, for an SNS action
    bucket: str | None  # for an S3 action: where the message is
    key: str | None
    # The notification's `receipt` object, with SES's verdicts (see mail.verdicts.from_ses).
    receipt: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)


def parse_receipt(message: str) -> SesReceipt | None:
    """The SES receipt notification in an SNS Notification's Message: `notificationType`
    Received, from an SNS action (the mail in `content`, base64 when the action's encoding is
    BASE64, else UTF-8) or an S3 action (`bucketName`, `objectKey`). None for anything else,
    or when a field is missing or of the wrong type ("Contents of notifications for Amazon
    SES email receiving" in the SES developer guide)."""
    try:
        document = json.loads(message)
    except (RecursionError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("notificationType") != "Received":
        return None
    receipt, mail = document.get("receipt"), document.get("mail")
    if not isinstance(receipt, dict) or not isinstance(mail, dict):
        return None
    action = receipt.get("action")
    message_id = mail.get("messageId")
    if not isinstance(action, dict) or not isinstance(message_id, str):
        return None
    if not _ID_OK.fullmatch(message_id):
        return None
    recipients = _addresses(receipt.get("recipients"))
    source = mail.get("source")
    mail_from = source if isinstance(source, str) and len(source) <= _MAX_ADDRESS else None
    common: dict[str, Any] = {
        "message_id": message_id,
        "recipients": recipients,
        "mail_from": mail_from,
        "receipt": receipt,
    }
    kind = action.get("type")
    if kind == "SNS":
        content = _content(document.get("content"), action.get("encoding"))
        if content is None:
            return None
        return SesReceipt(content=content, bucket=None, key=None, **common)
    if kind == "S3":
        bucket, key = action.get("bucketName"), action.get("objectKey")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            return None
        return SesReceipt(content=None, bucket=bucket, key=key, **common)
    return None


def _content(content: object, encoding: object) -> bytes | None:
    if not isinstance(content, str):
        return None
    if encoding == "BASE64":
        try:
            return base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            return None
    try:
        return content.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which json.loads accepts from "\ud800"
        return None


def _addresses(items: object) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    found = (
        item
        for item in items[:1000]
        if isinstance(item, str) and len(item) <= _MAX_ADDRESS and _ADDRESS_OK.fullmatch(item)
    )
    return tuple(dict.fromkeys(found))


# --- storing ---------------------------------------------------------------------------

Run = Callable[..., Awaitable[Any]]  # runs a blocking call in a thread: (fn, *args) -> result


async def fetch_stored(
    services: Services,
    bucket: InboundBucket | None,
    stored_at: ObjectCreated,
    *,
    message_id: str | None,
    door: Door,
    recipients: Sequence[str] = (),
    run: Run = asyncio.to_thread,
) -> bytes | None:
    """The mail SES stored where a notification says, within DISPATCH_MAX_MESSAGE_BYTES; None
    when it is dropped instead (recorded): in another bucket than ours, or too large. Raises
    ObjectUnavailable when S3 does not hand it over (a failure to retry)."""
    where = location(stored_at.bucket, stored_at.key)
    rejection = functools.partial(
        Rejection,
        door=door,
        provider_message_id=message_id,
        location=where,
        recipients=recipients,
    )
    if bucket is None or stored_at.bucket != bucket.name:
        reads = f"s3://{bucket.name}" if bucket else "none (DISPATCH_SES_INBOUND_S3_BUCKET)"
        await drop(services, rejection(reason=BUCKET_MISMATCH, detail=f"the bucket read: {reads}"))
        return None
    limit = services.settings.inbound.max_message_bytes
    try:
        if stored_at.size is not None and stored_at.size > limit:
            raise ObjectTooLarge(stored_at.size, limit)
        raw: bytes = await run(bucket.fetch, stored_at.key, limit)
    except ObjectTooLarge as too_large:
        await drop(
            services,
            rejection(
                reason=str(ErrorCode.MESSAGE_TOO_LARGE),
                size_bytes=too_large.size,
                detail=str(too_large),
            ),
        )
        return None
    return raw


async def receive(
    services: Services, raw: bytes, envelope: Envelope, *, location: str | None = None
) -> Outcome:
    """Ingest mail SES received. Mail that cannot be stored is recorded and dropped
    (`refused`); any other failure (the database) raises, for the caller to retry."""
    door = envelope.door or "ses_sqs"
    where = location or envelope.provider_message_id
    if not envelope.recipients:
        await drop(
            services,
            _rejection(envelope, raw, ErrorCode.UNKNOWN_RECIPIENT, "no recipient found", location),
        )
        return "refused"
    try:
        result = await ingest(services, raw, envelope)
    except DomainError as refused:
        await drop(services, _rejection(envelope, raw, refused.code, refused.message, location))
        return "refused"
    if result.rejected:
        log.info("%s %s: no inbox for %s", door, where, ", ".join(result.rejected))
    if all(delivery.duplicate for delivery in result.deliveries):
        log.info("%s %s: already stored", door, where)
        return "duplicate"
    stored = sum(not delivery.duplicate for delivery in result.deliveries)
    log.info("%s %s: stored (%d %s)", door, where, stored, "inbox" if stored == 1 else "inboxes")
    return "stored"


def _rejection(
    envelope: Envelope, raw: bytes, code: ErrorCode, detail: str, location: str | None
) -> Rejection:
    return Rejection(
        door=envelope.door or "ses_sqs",
        reason=str(code),
        provider_message_id=envelope.provider_message_id,
        location=location,
        recipients=envelope.recipients,
        size_bytes=len(raw),
        detail=detail,
    )


async def drop(services: Services, rejection: Rejection) -> None:
    """Record mail that is dropped, with a log line; once per provider message and reason,
    however often it is delivered again."""
    first = await services.db.run_write(inbound_rejections.record, rejection, utcnow())
    log.warning(
        "%s %s: dropped (%s)%s: %s",
        rejection.door,
        rejection.location or rejection.provider_message_id,
        rejection.reason,
        "" if first else " again, recorded before",
        rejection.detail,
    )
