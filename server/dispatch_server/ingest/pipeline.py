"""The one ingest function. Every door (SMTP, dev webhook, SES/SQS) calls `ingest`."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server import metrics
from dispatch_server.config import Inbound
from dispatch_server.core.clock import rfc3339, utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, QuotaExceeded, TooLarge
from dispatch_server.core.ids import new_id
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.domain import lists, quotas, threads
from dispatch_server.domain.messages import MessageWithArtifacts, stored_message
from dispatch_server.events import log as event_log
from dispatch_server.events.hub import Hub
from dispatch_server.mail import verdicts as v
from dispatch_server.mail.addresses import normalize_address
from dispatch_server.mail.parse import (
    MimeLimitExceeded,
    ParsedMessage,
    parse_message,
    read_unparseable,
)
from dispatch_server.mail.verdicts import Verdicts
from dispatch_server.services import Services

INLINE_PARSE_BYTES = 16 * 1024

# The doors mail comes in through, stored with each message (`messages.door`): the SMTP
# listener, the dev webhook, the SES worker (S3 events through SQS), SES receipt notifications
# through SNS, and the `local` outbound transport delivering sent mail here.
Door = Literal["smtp", "webhook", "ses_sqs", "ses_sns", "local"]
DOORS: tuple[Door, ...] = ("smtp", "webhook", "ses_sqs", "ses_sns", "local")


@attrs.frozen
class Envelope:
    recipients: tuple[str, ...]
    mail_from: str | None = None
    # The receiving provider's id (SES messageId). Without one, the Message-ID header is used.
    provider_message_id: str | None = None
    verdicts: Verdicts = attrs.field(factory=Verdicts)
    # Which door took it; None (stored as null) only where a door does not say yet.
    door: Door | None = None
    # Set where the mail was accepted already (SES said 250 to its sender): a message that
    # cannot be parsed is then stored as unparseable (quarantined, headers and raw MIME
    # only) rather than refused, since refusing it would lose it.
    keep_unparseable: bool = False


@attrs.frozen
class Delivery:
    inbox_id: str
    message_id: str
    duplicate: bool
    folder: str
    stored: MessageWithArtifacts | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class IngestResult:
    deliveries: tuple[Delivery, ...]
    rejected: tuple[str, ...]  # recipients that are no inbox here, or whose lists refused it


class UnknownRecipient(DomainError):
    """No recipient is an inbox here; nothing was stored."""

    code = ErrorCode.UNKNOWN_RECIPIENT

    def __init__(self) -> None:
        super().__init__("no recipient is an inbox on this server")


class MessageTooLarge(TooLarge):
    code = ErrorCode.MESSAGE_TOO_LARGE


class UnparseableMessage(DomainError):
    code = ErrorCode.UNPARSEABLE_MESSAGE


def quota_used_up() -> QuotaExceeded:
    return QuotaExceeded("the daily inbound quota of this inbox's workspace is used up")


@attrs.frozen
class InboxRef:
    id: str
    workspace_id: str
    address: str
    listed: bool = False  # receive lists apply to it


# Statements on the ingest path are built once and executed with parameters: building them
# per message (`.values(**row)`) cost more than SQLite took to run them.
# `listed`: whether receive lists apply to the inbox (then they are asked about the sender).
_INBOXES = sa.select(
    t.inboxes.c.id,
    t.inboxes.c.workspace_id,
    t.inboxes.c.address,
    lists.receive_listed(t.inboxes.c.workspace_id, t.inboxes.c.id).label("listed"),
)
# The recipients' inboxes. On PostgreSQL their rows are locked until commit, so ingests into
# one inbox take their received_at and commit in the same order, which readers and waiters
# that resume after a (received_at, id) position rely on. SQLite has one writer anyway. Every
# ingest takes its locks in one order (these rows by workspace, then the quota rows in the
# same workspace order, see _store_all), so two multi-recipient ingests cannot deadlock.
_LOCK_TARGETS = (
    _INBOXES.where(t.inboxes.c.address.in_(sa.bindparam("addresses", expanding=True)))
    .order_by(t.inboxes.c.workspace_id, t.inboxes.c.id)
    .with_for_update(of=t.inboxes, key_share=True)
)
# The same for the usual single recipient: an expanding IN is re-rendered at every execution.
_LOCK_TARGET = _INBOXES.where(t.inboxes.c.address == sa.bindparam("address")).with_for_update(
    of=t.inboxes, key_share=True
)


# A message the inbox already holds (same dedupe key): the insert does nothing and the copy
# is looked up. This is the one duplicate check, so it also covers a concurrent delivery that
# committed while this transaction waited for its locks.
_INSERT_MESSAGE = dialect.per_dialect(
    lambda insert: insert(t.messages).on_conflict_do_nothing(
        index_elements=[t.messages.c.inbox_id, t.messages.c.provider_message_id]
    )
)
_FIND_COPY = (
    sa.select(t.messages.c.id, t.message_security.c.folder)
    .join(t.message_security, t.message_security.c.message_id == t.messages.c.id)
    .where(
        t.messages.c.inbox_id == sa.bindparam("inbox_id"),
        t.messages.c.provider_message_id == sa.bindparam("provider_id"),
    )
)
_INSERT_SECURITY = t.message_security.insert()
_INSERT_ARTIFACTS = t.artifacts.insert()


def _within(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else None


def _inboxes_params(addresses: Iterable[str]) -> dict[str, list[str]]:
    return {"addresses": sorted({normalize_address(a) for a in addresses})}


def _inbox_map(rows: Iterable[Any]) -> dict[str, InboxRef]:
    return {
        row.address: InboxRef(row.id, row.workspace_id, row.address, bool(row.listed))
        for row in rows
    }


# The inbox of one address, what its workspace took of today's quota, and what its receive
# lists say of the sender, in one statement: the SMTP door asks this at every RCPT (outside
# a transaction on PostgreSQL, so it must stay one statement).
_RECIPIENT = (
    sa.select(
        t.inboxes.c.id,
        t.workspace_quotas.c.inbound_count,
        *lists.receive_flags(
            t.inboxes.c.workspace_id,
            t.inboxes.c.id,
            sa.bindparam("sender_patterns", expanding=True),
        ),
    )
    .select_from(
        t.inboxes.outerjoin(
            t.workspace_quotas,
            sa.and_(
                t.workspace_quotas.c.workspace_id == t.inboxes.c.workspace_id,
                t.workspace_quotas.c.day == sa.bindparam("today"),
            ),
        )
    )
    .where(t.inboxes.c.address == sa.bindparam("address"))
)


@attrs.frozen
class RecipientCheck:
    """What the SMTP door's RCPT check found for an address: why mail for it would be refused
    now (None if it would be taken), what its workspace has left of today's quota, and
    whether receive lists apply to its inbox (then the answer depends on the sender, and
    the door must not remember it per address)."""

    refusal: DomainError | None
    quota_left: int
    listed: bool = False


def check_recipient(
    conn: sa.Connection, address: str, quota_limit: int, sender: str | None = None
) -> RecipientCheck:
    """Whether mail for `address` from `sender` (MAIL FROM) would be taken right now. Only
    advice: the ingest transaction checks all of it again. A null sender (`<>`) is left to
    the ingest check, which matches the From header's address then."""
    patterns = lists.candidates(sender)
    row = conn.execute(
        _RECIPIENT,
        {
            "address": normalize_address(address),
            "today": utcnow().date(),
            "sender_patterns": patterns,
        },
    ).first()
    if row is None:
        return RecipientCheck(UnknownRecipient(), 0)
    left = quotas.inbound_left(row.inbound_count, quota_limit)
    listed = bool(row.listed)
    if (
        listed
        and patterns
        and lists.refuses(
            blocked=bool(row.blocked), allowed=bool(row.allowed), allow_list=bool(row.allow_list)
        )
    ):
        return RecipientCheck(lists.SenderBlocked(), left, listed)
    return RecipientCheck(quota_used_up() if left <= 0 else None, left, listed)


def dedupe_key(provider_id: str | None, message_id_header: str | None, raw: bytes) -> str:
    """What makes two deliveries the same message for one inbox.

    The receiving provider's id when there is one. Otherwise the Message-ID together with the
    body: a re-delivery (a retry after a lost 250) carries both unchanged, while a sender that
    reuses one Message-ID for different mail (it happens) must not lose the second message.
    Without a Message-ID nothing is deduplicated.
    """
    if provider_id:
        return (
            provider_id
            if len(provider_id) <= t.PROVIDER_MESSAGE_ID_LENGTH
            else "sha256:" + hashlib.sha256(provider_id.encode()).hexdigest()
        )
    if message_id_header:
        digest = hashlib.sha256(message_id_header.encode("utf-8", "replace") + b"\x00")
        header_end = raw.find(b"\r\n\r\n")
        if header_end < 0:
            header_end = raw.find(b"\n\n")
        if header_end >= 0:
            digest.update(memoryview(raw)[header_end:])
        return "mid:" + digest.hexdigest()
    return f"gen:{new_id()}"


async def ingest(services: Services, raw: bytes, envelope: Envelope) -> IngestResult:
    """Store `raw` in the inbox of each recipient that has one, in one transaction, and wake
    their waiters after the commit. Raises a DomainError (nothing stored) when the message is
    refused as a whole: too large, unparseable, no recipient here, over quota. Each ingest
    is counted and timed by door (dispatch_server.metrics). An inbox whose receive lists
    refuse the sender (dispatch_server.domain.lists) gets no copy; when that is every
    recipient, SenderBlocked is raised."""
    started = time.perf_counter()
    door = envelope.door or "unrecorded"  # as the ops status names a null door
    try:
        result = await _ingest(services, raw, envelope)
    except DomainError as refused:
        metrics.observe_ingest(door, str(refused.code), time.perf_counter() - started)
        raise
    except BaseException:
        metrics.observe_ingest(door, "error", time.perf_counter() - started)
        raise
    duplicate = all(delivery.duplicate for delivery in result.deliveries)
    outcome = "duplicate" if duplicate else "stored"
    metrics.observe_ingest(door, outcome, time.perf_counter() - started)
    return result


async def _ingest(services: Services, raw: bytes, envelope: Envelope) -> IngestResult:
    limits = services.settings.inbound
    if len(raw) > limits.max_message_bytes:
        raise MessageTooLarge(
            f"message is {len(raw)} bytes; the limit is {limits.max_message_bytes}"
        )
    prepare = functools.partial(_prepare, raw, envelope, limits)
    # A typical message (a few KB) parses in about 0.5 ms, less than a hand-off to a thread
    # and back costs; larger ones would hold up the event loop, so they go to one.
    parsed, provider_id, unparseable = (
        prepare() if len(raw) <= INLINE_PARSE_BYTES else await asyncio.to_thread(prepare)
    )
    decision = v.classify(
        envelope.verdicts, spam_flagged=parsed.spam_flagged, unparseable=unparseable
    )
    folder = decision.folder
    job = _StoreJob(
        raw=raw,
        parsed=parsed,
        envelope=envelope,
        provider_id=provider_id,
        folder=folder,
        quota=limits.daily_quota,
        security={
            "folder": folder,
            **v.columns(envelope.verdicts),
            "details": v.details(envelope.verdicts, decision, spam_flagged=parsed.spam_flagged),
        },
    )
    hub = services.hub
    # Once queued, the write commits whether or not the caller still waits (an SMTP client
    # that hangs up after its final dot), so the wake-up must not depend on the caller either.
    storing = asyncio.ensure_future(services.db.run_write(_store_all, job, hub))
    try:
        deliveries, rejected = await asyncio.shield(storing)
    except asyncio.CancelledError:
        _ORPHANS.add(storing)
        storing.add_done_callback(functools.partial(_wake_after_orphaned_write, hub))
        raise
    # Woken here, not by the write: the caller's answer (the SMTP 250) goes out before the
    # waiters it wakes run.
    _wake(hub, deliveries)
    if not deliveries:
        raise UnknownRecipient()
    return IngestResult(deliveries=tuple(deliveries), rejected=rejected)


_Stored = tuple[list[Delivery], tuple[str, ...]]
_ORPHANS: set[asyncio.Future[_Stored]] = set()  # writes whose caller left, until they end


def _wake(hub: Hub, deliveries: Iterable[Delivery]) -> None:
    for delivery in deliveries:
        if not delivery.duplicate:
            hub.publish_local(delivery.inbox_id, delivery.stored)


def _wake_after_orphaned_write(hub: Hub, storing: asyncio.Future[_Stored]) -> None:
    _ORPHANS.discard(storing)
    if not storing.cancelled() and storing.exception() is None:
        _wake(hub, storing.result()[0])


def _prepare(
    raw: bytes, envelope: Envelope, limits: Inbound
) -> tuple[ParsedMessage, str, str | None]:
    """The CPU-bound part of an ingest: parse, extract, and the dedupe key; with why the
    message could not be parsed when it is kept anyway (`Envelope.keep_unparseable`).
    Raises UnparseableMessage otherwise."""
    unparseable = None
    try:
        parsed = parse_message(
            raw, max_parts=limits.max_mime_parts, max_depth=limits.max_mime_depth
        )
    except MimeLimitExceeded as exc:
        if not envelope.keep_unparseable:
            raise UnparseableMessage(str(exc)) from None
        parsed, unparseable = read_unparseable(raw), str(exc)
    key = dedupe_key(envelope.provider_message_id, parsed.message_id_header, raw)
    return parsed, key, unparseable


@attrs.frozen
class _StoreJob:
    raw: bytes
    parsed: ParsedMessage
    envelope: Envelope
    provider_id: str
    folder: str
    quota: int
    security: dict[str, Any]  # the message_security row, but for its message_id

    @property
    def thread_headers(self) -> threads.Headers:
        parsed = self.parsed
        return threads.Headers(
            message_id=threads.message_id_of(parsed.message_id_header),
            in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
            references=parsed.references,
            subject=parsed.subject,
        )


def _store_all(
    conn: sa.Connection, job: _StoreJob, hub: Hub
) -> tuple[list[Delivery], tuple[str, ...]]:
    """The ingest transaction: one synchronous function, so SQLite runs it in a single hop."""
    recipients = job.envelope.recipients
    addresses = _inboxes_params(recipients)["addresses"]
    inboxes = _inbox_map(
        conn.execute(_LOCK_TARGET, {"address": addresses[0]})
        if len(addresses) == 1
        else conn.execute(_LOCK_TARGETS, {"addresses": addresses})
    )
    rejected = tuple(r for r in recipients if normalize_address(r) not in inboxes)
    sender = lists.sender_of(job.envelope.mail_from, job.parsed.from_address)
    taken = [inbox for inbox in inboxes.values() if not _refused_by_lists(conn, job, inbox, sender)]
    if inboxes and not taken:
        raise lists.SenderBlocked()
    if len(taken) < len(inboxes):
        kept = {inbox.address for inbox in taken}
        rejected += tuple(
            r
            for r in recipients
            if normalize_address(r) in inboxes and normalize_address(r) not in kept
        )
    deliveries = [_store(conn, job, inbox) for inbox in taken]  # in lock order
    hub.notify_in_transaction(conn, [d.inbox_id for d in deliveries if not d.duplicate])
    return deliveries, rejected


def _refused_by_lists(
    conn: sa.Connection, job: _StoreJob, inbox: InboxRef, sender: str | None
) -> bool:
    """Whether the inbox's receive lists refuse the sender. Not asked for an inbox that has
    none, nor for the inbox's own mail to itself through the `local` transport (its memory
    writes), which no one outside can send."""
    if not inbox.listed:
        return False
    own = sender is not None and sender.strip("<>").lower() == inbox.address
    if own and job.envelope.door == "local":
        return False
    return lists.receive_refused(conn, inbox.workspace_id, inbox.id, sender)


_MEMORY_WRITE = sa.select(t.outbound_messages.c.id).where(
    t.outbound_messages.c.inbox_id == sa.bindparam("inbox_id"),
    t.outbound_messages.c.memory_key.is_not(None),
    t.outbound_messages.c.message_id_header == sa.bindparam("message_id"),
)


def _folder(conn: sa.Connection, job: _StoreJob, inbox: InboxRef) -> str:
    """The folder of the message in this inbox: `memory` for a memory write the inbox sent
    itself (its Message-ID is one of the inbox's memory sends, which nobody else knows),
    else the verdicts' folder."""
    parsed = job.parsed
    own = parsed.from_address is not None and parsed.from_address.lower() == inbox.address
    if own and parsed.message_id_header:
        params = {"inbox_id": inbox.id, "message_id": parsed.message_id_header}
        if conn.execute(_MEMORY_WRITE, params).first() is not None:
            return "memory"
    return job.folder


def _store(conn: sa.Connection, job: _StoreJob, inbox: InboxRef) -> Delivery:
    parsed, envelope, provider_id = job.parsed, job.envelope, job.provider_id
    folder = _folder(conn, job, inbox)
    now = utcnow()
    message_id = new_id()
    # Planned before the insert (reads only), recorded after it: a duplicate writes nothing.
    thread = None if folder != "inbox" else threads.plan(conn, inbox.id, job.thread_headers, now)
    inserted = conn.execute(
        _INSERT_MESSAGE[dialect.name(conn)],
        row := {
            "id": message_id,
            "inbox_id": inbox.id,
            "workspace_id": inbox.workspace_id,
            "provider_message_id": provider_id,
            "message_id_header": _clip(parsed.message_id_header, 998),
            "mail_from": _clip(envelope.mail_from, 320),
            "from_header": parsed.from_header,
            # Too long to be an address (RFC 5321 allows 254): none, never a cut one, which
            # could end like another domain's.
            "from_address": _within(parsed.from_address, 320),
            "to_addresses": parsed.to_addresses,
            "cc_addresses": parsed.cc_addresses,
            "subject": parsed.subject,
            "text_body": parsed.text,
            "html_body": parsed.html,
            "attachments": [attrs.asdict(a) for a in parsed.attachments],
            "raw_mime": job.raw,
            "size_bytes": len(job.raw),
            "received_at": now,
            "door": envelope.door,
            "thread_id": None if thread is None else thread.thread_id,
        },
    )
    if inserted.rowcount == 0:
        copy = conn.execute(_FIND_COPY, {"inbox_id": inbox.id, "provider_id": provider_id}).one()
        return Delivery(inbox.id, copy.id, duplicate=True, folder=copy.folder)
    if not quotas.take_inbound(conn, inbox.workspace_id, now.date(), job.quota):
        raise quota_used_up()  # rolls back the insert above with the transaction
    security = job.security if folder == job.folder else {**job.security, "folder": folder}
    conn.execute(_INSERT_SECURITY, {"message_id": message_id, **security})
    if thread is not None:
        threads.record(conn, thread, workspace_id=inbox.workspace_id, inbox_id=inbox.id, now=now)
    artifact_rows = _artifact_rows(parsed, message_id, inbox.id, folder, now)
    if artifact_rows:
        conn.execute(_INSERT_ARTIFACTS, artifact_rows)
    stored = stored_message(row, security, artifact_rows)
    if folder != "memory":  # the inbox's own notes are not news
        _log_received(conn, inbox, message_id, folder, parsed, artifact_rows, now)
    return Delivery(inbox.id, message_id, duplicate=False, folder=folder, stored=stored)


def _log_received(
    conn: sa.Connection,
    inbox: InboxRef,
    message_id: str,
    folder: str,
    parsed: ParsedMessage,
    artifact_rows: list[dict[str, object]],
    now: datetime,
) -> None:
    """`message.received`, with what an agent acts on inline: the code and the link."""
    code = next((r for r in artifact_rows if r["kind"] == "otp" and r["is_primary"]), None)
    link = next((r for r in artifact_rows if r["kind"] == "link" and r["is_primary"]), None)
    otp = next((o for o in parsed.extraction.otps if o.confident), None)
    event_log.append(
        conn,
        workspace_id=inbox.workspace_id,
        inbox_id=inbox.id,
        type="message.received",
        payload={
            "inbox_id": inbox.id,
            "message_id": message_id,
            "from": parsed.from_address,
            "to": list(parsed.to_addresses),
            "subject": parsed.subject,
            "folder": folder,
            "received_at": rfc3339(now),
            "otp": None
            if code is None or otp is None
            else {"code": code["value"], "kind": otp.kind},
            "link": None if link is None else link["value"],
        },
        now=now,
    )


def _artifact_rows(
    parsed: ParsedMessage, message_id: str, inbox_id: str, folder: str, received_at: datetime
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    common = {
        "message_id": message_id,
        "inbox_id": inbox_id,
        "folder": folder,
        "received_at": received_at,
    }
    # Only confident codes are stored: a wait for an OTP, the latest OTP and `has_otp` act on
    # them; a caller who wants the weaker candidates runs `extract` on the raw message.
    confident = [otp for otp in parsed.extraction.otps if otp.confident]
    for position, otp in enumerate(confident):
        rows.append(
            {
                "id": new_id(),
                "kind": "otp",
                "value": otp.code,
                "is_primary": position == 0,
                "position": position,
                **common,
            }
        )
    for position, link in enumerate(parsed.extraction.links):
        rows.append(
            {
                "id": new_id(),
                "kind": "link",
                "value": link.url,
                "is_primary": link.is_primary,
                "position": position,
                **common,
            }
        )
    return rows


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None
