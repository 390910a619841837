"""The one ingest function. Every door (SMTP, dev webhook, SES/SQS) calls `ingest`."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dispatch_server import schema as t
from dispatch_server.clock import new_id, utcnow
from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.ingest.parse import MimeLimitExceeded, ParsedMessage, parse_message
from dispatch_server.ingest.security import Verdicts, classify_folder
from dispatch_server.notify import Hub

INLINE_PARSE_BYTES = 16 * 1024


@attrs.frozen
class Envelope:
    recipients: tuple[str, ...]
    mail_from: str | None = None
    # The receiving provider's id (SES messageId). Without one, the Message-ID header is used.
    provider_message_id: str | None = None
    verdicts: Verdicts = attrs.field(factory=Verdicts)


@attrs.frozen
class Delivery:
    inbox_id: str
    message_id: str
    duplicate: bool
    folder: str


@attrs.frozen
class IngestResult:
    deliveries: tuple[Delivery, ...]
    rejected: tuple[str, ...]  # recipients that are no inbox here


class IngestRejected(Exception):
    """The message is refused as a whole; nothing was stored."""

    def __init__(self, code: str, message: str, *, smtp_reply: str, http_status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.smtp_reply = smtp_reply
        self.http_status = http_status


@attrs.frozen
class InboxRef:
    id: str
    workspace_id: str
    address: str


def normalize_address(address: str) -> str:
    """Lower-case and drop +subaddress tags: bot+github@x reaches bot@x."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if local else address.lower()


# Statements on the ingest path are built once and executed with parameters: building them
# per message (`.values(**row)`) cost more than SQLite took to run them.
_FIND_INBOXES = sa.select(t.inboxes.c.id, t.inboxes.c.workspace_id, t.inboxes.c.address).where(
    t.inboxes.c.address.in_(sa.bindparam("addresses", expanding=True))
)
# The recipients' inboxes. On PostgreSQL their rows are locked until commit, so ingests into
# one inbox take their received_at and commit in the same order, which readers and waiters
# that resume after a (received_at, id) position rely on. SQLite has one writer anyway. Every
# ingest takes its locks in one order (these rows by workspace, then the quota rows in the
# same workspace order, see _store_all), so two multi-recipient ingests cannot deadlock.
_LOCK_TARGETS = _FIND_INBOXES.order_by(t.inboxes.c.workspace_id, t.inboxes.c.id).with_for_update(
    of=t.inboxes, key_share=True
)


def _take_quota_statement(insert: Any) -> Any:
    """Open today's row at 1, or add 1 while under the limit: one statement, so concurrent
    ingests cannot both take the last unit. rowcount is 0 when the quota is used up."""
    statement = insert(t.workspace_quotas).values(
        workspace_id=sa.bindparam("ws"),
        day=sa.bindparam("today"),
        inbound_count=1,
        sent_count=0,
        unique_recipient_count=0,
    )
    return statement.on_conflict_do_update(
        index_elements=[t.workspace_quotas.c.workspace_id, t.workspace_quotas.c.day],
        set_={"inbound_count": t.workspace_quotas.c.inbound_count + 1},
        where=t.workspace_quotas.c.inbound_count < sa.bindparam("quota_limit"),
    )


_TAKE_QUOTA = {
    "postgresql": _take_quota_statement(pg_insert),
    "sqlite": _take_quota_statement(sqlite_insert),
}
# A message the inbox already holds (same dedupe key): the insert does nothing and the copy
# is looked up. This is the one duplicate check, so it also covers a concurrent delivery that
# committed while this transaction waited for its locks.
_INSERT_MESSAGE = {
    name: insert(t.messages).on_conflict_do_nothing(
        index_elements=[t.messages.c.inbox_id, t.messages.c.provider_message_id]
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
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


def _inboxes_params(addresses: Iterable[str]) -> dict[str, list[str]]:
    return {"addresses": sorted({normalize_address(a) for a in addresses})}


def _inbox_map(rows: Iterable[Any]) -> dict[str, InboxRef]:
    return {row.address: InboxRef(row.id, row.workspace_id, row.address) for row in rows}


def find_inboxes(conn: sa.Connection, addresses: Iterable[str]) -> dict[str, InboxRef]:
    """Map each normalised address that is an inbox here to that inbox."""
    return _inbox_map(conn.execute(_FIND_INBOXES, _inboxes_params(addresses)))


def inbound_quota_left(conn: sa.Connection, workspace_id: str, limit: int) -> int:
    used = conn.scalar(
        sa.select(t.workspace_quotas.c.inbound_count).where(
            t.workspace_quotas.c.workspace_id == workspace_id,
            t.workspace_quotas.c.day == utcnow().date(),
        )
    )
    return limit - (used or 0)


def unknown_recipient() -> IngestRejected:
    return IngestRejected(
        "unknown_recipient",
        "no recipient is an inbox on this server",
        smtp_reply="550 5.1.1 No such inbox here",
        http_status=404,
    )


def check_recipient(conn: sa.Connection, address: str, quota_limit: int) -> IngestRejected | None:
    """Why mail for `address` would be refused right now, or None if it would be taken."""
    inbox = find_inboxes(conn, [address]).get(normalize_address(address))
    if inbox is None:
        return unknown_recipient()
    if inbound_quota_left(conn, inbox.workspace_id, quota_limit) <= 0:
        return quota_rejection()
    return None


def quota_rejection() -> IngestRejected:
    return IngestRejected(
        "quota_exceeded",
        "the daily inbound quota of this inbox's workspace is used up",
        smtp_reply="452 4.2.2 Mailbox over daily quota, try again tomorrow",
        http_status=429,
    )


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


async def ingest(
    db: Database, hub: Hub, settings: Settings, raw: bytes, envelope: Envelope
) -> IngestResult:
    if len(raw) > settings.max_message_bytes:
        raise IngestRejected(
            "message_too_large",
            f"message is {len(raw)} bytes; the limit is {settings.max_message_bytes}",
            smtp_reply="552 5.3.4 Message too big",
            http_status=413,
        )
    prepare = functools.partial(_prepare, raw, envelope, settings)
    try:
        # A typical message (a few KB) parses in about 0.5 ms, less than a hand-off to a
        # thread and back costs; larger ones would hold up the event loop, so they go to one.
        parsed, provider_id = (
            prepare() if len(raw) <= INLINE_PARSE_BYTES else await asyncio.to_thread(prepare)
        )
    except MimeLimitExceeded as exc:
        raise IngestRejected(
            "unparseable_message",
            str(exc),
            smtp_reply=f"554 5.6.0 {exc}",
            http_status=422,
        ) from None
    folder = classify_folder(envelope.verdicts, spam_flagged=parsed.spam_flagged)
    job = _StoreJob(
        raw=raw,
        parsed=parsed,
        envelope=envelope,
        provider_id=provider_id,
        folder=folder,
        quota=settings.daily_inbound_quota,
    )
    deliveries, rejected = await db.run_write(_store_all, job, hub)
    if not deliveries:
        raise unknown_recipient()
    for delivery in deliveries:
        if not delivery.duplicate:
            hub.publish_local(delivery.inbox_id)
    return IngestResult(deliveries=tuple(deliveries), rejected=rejected)


def _prepare(raw: bytes, envelope: Envelope, settings: Settings) -> tuple[ParsedMessage, str]:
    """The CPU-bound part of an ingest: parse, extract, and the dedupe key."""
    parsed = parse_message(
        raw, max_parts=settings.max_mime_parts, max_depth=settings.max_mime_depth
    )
    return parsed, dedupe_key(envelope.provider_message_id, parsed.message_id_header, raw)


@attrs.frozen
class _StoreJob:
    raw: bytes
    parsed: ParsedMessage
    envelope: Envelope
    provider_id: str
    folder: str
    quota: int


def _store_all(
    conn: sa.Connection, job: _StoreJob, hub: Hub
) -> tuple[list[Delivery], tuple[str, ...]]:
    """The ingest transaction: one synchronous function, so SQLite runs it in a single hop."""
    recipients = job.envelope.recipients
    inboxes = _inbox_map(conn.execute(_LOCK_TARGETS, _inboxes_params(recipients)))
    rejected = tuple(r for r in recipients if normalize_address(r) not in inboxes)
    deliveries = [_store(conn, job, inbox) for inbox in inboxes.values()]  # in lock order
    hub.notify_in_transaction(conn, [d.inbox_id for d in deliveries if not d.duplicate])
    return deliveries, rejected


def _store(conn: sa.Connection, job: _StoreJob, inbox: InboxRef) -> Delivery:
    parsed, envelope, provider_id, folder = job.parsed, job.envelope, job.provider_id, job.folder
    now = utcnow()
    message_id = new_id()
    inserted = conn.execute(
        _INSERT_MESSAGE[_dialect(conn)],
        {
            "id": message_id,
            "inbox_id": inbox.id,
            "workspace_id": inbox.workspace_id,
            "provider_message_id": provider_id,
            "message_id_header": _clip(parsed.message_id_header, 998),
            "mail_from": _clip(envelope.mail_from, 320),
            "from_header": parsed.from_header,
            "from_address": _clip(parsed.from_address, 320),
            "to_addresses": parsed.to_addresses,
            "cc_addresses": parsed.cc_addresses,
            "subject": parsed.subject,
            "text_body": parsed.text,
            "html_body": parsed.html,
            "attachments": [attrs.asdict(a) for a in parsed.attachments],
            "raw_mime": job.raw,
            "size_bytes": len(job.raw),
            "received_at": now,
        },
    )
    if inserted.rowcount == 0:
        copy = conn.execute(_FIND_COPY, {"inbox_id": inbox.id, "provider_id": provider_id}).one()
        return Delivery(inbox.id, copy.id, duplicate=True, folder=copy.folder)
    if not _take_inbound_quota(conn, inbox.workspace_id, now.date(), job.quota):
        raise quota_rejection()  # rolls back the insert above with the transaction
    verdicts = envelope.verdicts
    conn.execute(
        _INSERT_SECURITY,
        {
            "message_id": message_id,
            "folder": folder,
            "spam_verdict": verdicts.spam,
            "virus_verdict": verdicts.virus,
            "spf_verdict": verdicts.spf,
            "dkim_verdict": verdicts.dkim,
            "dmarc_verdict": verdicts.dmarc,
            "details": {"spam_flag_header": parsed.spam_flagged},
        },
    )
    artifact_rows = _artifact_rows(parsed, message_id, inbox.id, folder, now)
    if artifact_rows:
        conn.execute(_INSERT_ARTIFACTS, artifact_rows)
    return Delivery(inbox.id, message_id, duplicate=False, folder=folder)


def _take_inbound_quota(conn: sa.Connection, workspace_id: str, day: date, limit: int) -> bool:
    """Count one inbound message against today's quota; False when it is used up."""
    if limit <= 0:
        return False
    statement = _TAKE_QUOTA[_dialect(conn)]
    result = conn.execute(statement, {"ws": workspace_id, "today": day, "quota_limit": limit})
    return result.rowcount == 1


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
    for position, otp in enumerate(parsed.extraction.otps):
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


def _dialect(conn: sa.Connection) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None
