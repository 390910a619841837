"""Sending mail from an inbox: a send validated and composed (`Draft`), queued durably with
its quotas taken (`queue`), then claimed, handed to a transport and recorded (`claim`,
`record_accepted`, `record_failure`), and read back (`list_sent`, `get_sent`).

The order is what makes a send neither lost nor sent twice: the row (with the composed
message) is committed before any provider is called; a provider call happens only under a
claim (a lease on the row, taken by one conditional UPDATE), so two processes never hand
one row over at once; a claim that is never recorded (the process died) lapses, and the
send is handed over again with the same Message-ID. Only that window, a crash during the
provider call itself, can deliver a message twice, and receivers that dedupe by Message-ID
(this server's own ingest does) see it once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.auth.policy import Senders, sender_clause
from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.domain import lists as address_lists
from dispatch_server.domain import quotas, threads
from dispatch_server.events import log as event_log
from dispatch_server.mail.addresses import (
    check_recipient_count,
    display_address,
    normalize_address,
    parse_addresses,
    recipient_mailbox,
)
from dispatch_server.mail.compose import Attachment, compose, new_message_id
from dispatch_server.mail.parse import threading_headers
from dispatch_server.outbound.transports import Accepted

SendStatus = Literal[
    "queued",
    "sent",
    "delivered",
    "bounced",
    "complained",
    "rejected",
    "failed",
    "suppressed",
    "blocked",
]
SEND_STATUSES: tuple[SendStatus, ...] = (
    "queued",
    "sent",
    "delivered",
    "bounced",
    "complained",
    "rejected",
    "failed",
    "suppressed",
    "blocked",
)
MAX_SUBJECT_CHARS = 998
MAX_MEMORY_KEY_CHARS = 255
MAX_BODY_CHARS = 2 * 1024 * 1024  # of text and of html, each
MAX_ATTACHMENTS = 20
EVENTS_PER_MESSAGE = 50  # the newest ones a sent message shows
QUEUED_GRACE = timedelta(seconds=30)
FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 600.0

# Headers a send may set: its own X- headers and these. Never the ones that say who sent the
# mail, where it goes or how it travelled (From, Sender, To, Cc, Bcc, Return-Path, Received,
# DKIM-Signature...), nor those the server writes (Date, Message-ID, MIME, threading).
ALLOWED_HEADERS = frozenset(
    {
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
        "auto-submitted",
        "precedence",
        "importance",
        "priority",
        "keywords",
        "comments",
        "x-priority",
    }
)
_REFUSED_X_HEADERS = re.compile(r"x-(original|forwarded|envelope|ses|dispatch)-", re.I)
_MAX_HEADERS = 50


class RecipientSuppressed(DomainError):
    code = ErrorCode.RECIPIENT_SUPPRESSED

    def __init__(self, addresses: Sequence[str], *, param: str = "to") -> None:
        shown = ", ".join(addresses[:10]) + (" …" if len(addresses) > 10 else "")
        super().__init__(
            f"{len(addresses)} recipient(s) are suppressed after a bounce or complaint: {shown}",
            param=param,
        )
        self.addresses = tuple(addresses)


@attrs.frozen(kw_only=True)
class SendFields:
    """What a caller asks to send, as given (validated by `draft`)."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None  # the id of a message the inbox received


@attrs.frozen(kw_only=True)
class Sender:
    """The inbox a send goes from, read in the send's first transaction."""

    inbox_id: str
    workspace_id: str
    address: str
    display_name: str | None
    plan: str


@attrs.frozen(kw_only=True)
class Thread:
    """The received message a send answers: what its threading headers come from."""

    message_id: str
    message_id_header: str | None
    references: tuple[str, ...]
    subject: str | None
    reply_address: str | None  # Reply-To's first address, else From's
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]


@attrs.frozen(kw_only=True)
class AttachmentInfo:
    filename: str
    content_type: str
    size_bytes: int


@attrs.frozen(kw_only=True)
class Draft:
    """A send validated and composed, not yet stored."""

    sender: Sender
    to: tuple[str, ...]  # "Name <address>" or "address", domains in ASCII
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    recipients: tuple[str, ...]  # the envelope: lower-case addresses, once each
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    attachments: tuple[AttachmentInfo, ...]
    in_reply_to: str | None
    message_id_header: str
    raw: bytes
    references: tuple[str, ...] = ()  # its References header's msg-ids, In-Reply-To's last

    @property
    def memory_key(self) -> str | None:
        """The subject, when the inbox sends only to itself: a memory."""
        to_itself = self.recipients == (self.sender.address.lower(),)
        if to_itself and not self.attachments and len(self.subject) <= MAX_MEMORY_KEY_CHARS:
            return self.subject
        return None


@attrs.frozen(kw_only=True)
class SentEvent:
    type: str
    source: str
    recipients: tuple[str, ...]
    detail: dict[str, Any]
    occurred_at: datetime


@attrs.frozen(kw_only=True)
class SentMessage:
    id: str
    inbox_id: str
    from_address: str
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    bcc_addresses: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text_body: str | None
    html_body: str | None
    headers: dict[str, str]
    attachments: tuple[AttachmentInfo, ...]
    message_id_header: str
    in_reply_to: str | None
    status: SendStatus
    provider: str
    provider_message_id: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    events: tuple[SentEvent, ...] = ()
    thread_id: str | None = None

    @classmethod
    def of(cls, row: Any, events: Sequence[SentEvent] = ()) -> SentMessage:
        return cls(
            id=row.id,
            inbox_id=row.inbox_id,
            from_address=row.from_address,
            to_addresses=tuple(row.to_addresses),
            cc_addresses=tuple(row.cc_addresses),
            bcc_addresses=tuple(row.bcc_addresses),
            reply_to=tuple(row.reply_to),
            subject=row.subject,
            text_body=row.text_body,
            html_body=row.html_body,
            headers=dict(row.headers),
            attachments=tuple(AttachmentInfo(**a) for a in row.attachments),
            message_id_header=row.message_id_header,
            in_reply_to=row.in_reply_to,
            status=row.status,
            provider=row.provider,
            provider_message_id=row.provider_message_id,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            created_at=row.created_at,
            updated_at=row.updated_at,
            sent_at=row.sent_at,
            events=tuple(events),
            thread_id=row.thread_id,
        )


@attrs.frozen(kw_only=True)
class Claimed:
    """A queued send this process may now hand to its transport."""

    id: str
    workspace_id: str
    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    message_id: str  # without angle brackets
    attempts: int


# --- reading what a send needs -------------------------------------------------------------


def sender_of(conn: sa.Connection, workspace_id: str, inbox_id: str) -> Sender:
    """The inbox in the workspace a send goes from (404 when it is not there)."""
    row = conn.execute(
        sa.select(
            t.inboxes.c.id,
            t.inboxes.c.workspace_id,
            t.inboxes.c.address,
            t.inboxes.c.display_name,
            t.workspaces.c.plan,
        )
        .join(t.workspaces, t.workspaces.c.id == t.inboxes.c.workspace_id)
        .where(t.inboxes.c.id == inbox_id, t.inboxes.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise NotFound("inbox")
    return Sender(
        inbox_id=row.id,
        workspace_id=row.workspace_id,
        address=row.address,
        display_name=row.display_name,
        plan=row.plan,
    )


def thread_of(
    conn: sa.Connection, inbox_id: str, message_id: str, *, param: str, senders: Senders = None
) -> Thread:
    """The received message `message_id` of the inbox, that a send replies to (one from
    `senders`, for a key restricted to them)."""

    row = conn.execute(
        sa.select(
            t.messages.c.id,
            t.messages.c.message_id_header,
            t.messages.c.subject,
            t.messages.c.from_address,
            t.messages.c.to_addresses,
            t.messages.c.cc_addresses,
            t.messages.c.raw_mime,
        ).where(
            t.messages.c.inbox_id == inbox_id,
            t.messages.c.id == message_id,
            sender_clause(senders, t.messages.c.from_address),
        )
    ).first()
    if row is None:
        raise InvalidInput(f"{param}: no message {message_id[:40]!r} in this inbox", param=param)
    references, reply_to = threading_headers(row.raw_mime)
    return Thread(
        message_id=row.id,
        message_id_header=row.message_id_header,
        references=references,
        subject=row.subject,
        reply_address=reply_to or row.from_address,
        to_addresses=tuple(row.to_addresses),
        cc_addresses=tuple(row.cc_addresses),
    )


def reply_recipients(
    sender: Sender, thread: Thread, *, reply_all: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(to, cc) of a reply: the message's reply address; with `reply_all`, its other To and
    Cc recipients but the inbox itself, those mail can be sent to. A reply address mail
    cannot be sent to (received mail holds anything) is an InvalidInput naming message_id."""
    if thread.reply_address is None or not _sendable(thread.reply_address):
        shown = (thread.reply_address or "")[:100]
        raise InvalidInput(
            f"the message names no address a reply can go to ({shown!r})", param="message_id"
        )
    others: tuple[str, ...] = ()
    if reply_all:
        own = {normalize_address(sender.address), normalize_address(thread.reply_address)}
        others = tuple(
            dict.fromkeys(
                address
                for address in (*thread.to_addresses, *thread.cc_addresses)
                if normalize_address(address) not in own and _sendable(address)
            )
        )
    return (thread.reply_address,), others


def _sendable(address: str) -> bool:
    try:
        recipient_mailbox(address, "to")
    except InvalidInput:
        return False
    return True


# --- validating and composing --------------------------------------------------------------


def draft(
    sender: Sender,
    fields: SendFields,
    thread: Thread | None,
    *,
    max_recipients: int,
    max_attachment_bytes: int,
) -> Draft:
    """The send validated and composed; a bad field is an InvalidInput naming it. CPU-bound
    and linear in the input: callers run a large one off the event loop."""
    total = len(fields.to) + len(fields.cc) + len(fields.bcc)
    check_recipient_count(total, max_recipients, "to")
    if total == 0:
        raise InvalidInput("give at least one recipient in to, cc or bcc", param="to")
    lists = {
        name: tuple(recipient_mailbox(value, name) for value in values)
        for name, values in (
            ("to", fields.to),
            ("cc", fields.cc),
            ("bcc", fields.bcc),
            ("reply_to", fields.reply_to),
        )
    }
    if not fields.text and not fields.html:
        raise InvalidInput("give text or html (or both)", param="text")
    for name, body in (("text", fields.text), ("html", fields.html)):
        if body is not None and len(body) > MAX_BODY_CHARS:
            raise InvalidInput(f"{name} is longer than {MAX_BODY_CHARS} characters", param=name)
    if len(fields.subject) > MAX_SUBJECT_CHARS:
        raise InvalidInput(
            f"subject is longer than {MAX_SUBJECT_CHARS} characters", param="subject"
        )
    headers = _allowed_headers(fields.headers)
    _check_attachments(fields.attachments, max_attachment_bytes)
    shown = {name: tuple(display_address(n, a) for n, a in pairs) for name, pairs in lists.items()}
    recipients = _envelope(a for name in ("to", "cc", "bcc") for _, a in lists[name])
    domain = sender.address.rpartition("@")[2]
    message_id = new_message_id(domain)
    in_reply_to = references = None
    if thread is not None and thread.message_id_header:
        in_reply_to = thread.message_id_header
        references = (*thread.references, thread.message_id_header)[-20:]
    raw = compose(
        sender=display_address(sender.display_name or "", sender.address),
        to=shown["to"],
        cc=shown["cc"],
        reply_to=shown["reply_to"],
        subject=fields.subject,
        text=fields.text,
        html=fields.html,
        headers=headers,
        message_id_domain=domain,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references or (),
        attachments=fields.attachments,
        max_recipients=max_recipients,
    )
    return Draft(
        sender=sender,
        to=shown["to"],
        cc=shown["cc"],
        bcc=shown["bcc"],
        reply_to=shown["reply_to"],
        recipients=recipients,
        subject=fields.subject,
        text=fields.text,
        html=fields.html,
        headers=headers,
        attachments=tuple(
            AttachmentInfo(filename=a.filename, content_type=a.content_type, size_bytes=len(a.data))
            for a in fields.attachments
        ),
        in_reply_to=thread.message_id if thread else None,
        message_id_header=message_id,
        raw=raw,
        references=tuple(references or ()),
    )


def _envelope(addresses: Iterable[str]) -> tuple[str, ...]:
    """The envelope recipients: lower-case, each once, in order."""
    return tuple(dict.fromkeys(address.lower() for address in addresses))


def _allowed_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > _MAX_HEADERS:
        raise InvalidInput(f"at most {_MAX_HEADERS} headers", param="headers")
    seen: set[str] = set()
    for name in headers:
        key = name.lower()
        if key in seen:  # the message would carry one of them, the send show both
            raise InvalidInput(f"header {name[:100]!r} is given twice", param="headers")
        seen.add(key)
        allowed = key in ALLOWED_HEADERS or (
            key.startswith("x-") and not _REFUSED_X_HEADERS.match(key)
        )
        if not allowed:
            raise InvalidInput(
                f"header {name[:100]!r} cannot be set: only X- headers and "
                + ", ".join(sorted(ALLOWED_HEADERS))
                + " (the server writes From, To, Date, Message-ID and the rest)",
                param="headers",
            )
    return dict(headers)


def _check_attachments(attachments: Sequence[Attachment], limit: int) -> None:
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments", param="attachments")
    size = sum(len(a.data) for a in attachments)
    if size > limit:
        from dispatch_server.core.errors import TooLarge

        raise TooLarge(
            f"the attachments are {size} bytes together; at most {limit}", param="attachments"
        )
    for attachment in attachments:
        if not attachment.filename or len(attachment.filename) > 255:
            raise InvalidInput(
                "an attachment needs a filename of 1 to 255 characters", param="attachments"
            )


# --- queueing ------------------------------------------------------------------------------


def queue(
    conn: sa.Connection,
    draft: Draft,
    *,
    provider: str,
    now: datetime,
    send_limit: int,
    recipient_limit: int,
) -> SentMessage:
    """Store the send as queued, after refusing suppressed recipients and those the send
    lists refuse, and taking the day's quotas (RecipientSuppressed, RecipientBlocked,
    QuotaExceeded: nothing is stored or counted)."""
    sender = draft.sender
    _refuse_suppressed(conn, draft)
    _refuse_listed(conn, draft)
    quotas.take_send(
        conn,
        sender.workspace_id,
        draft.recipients,
        now=now,
        send_limit=send_limit,
        recipient_limit=recipient_limit,
    )
    send_id = new_id()
    thread = _thread(conn, draft, now)
    row = {
        "id": send_id,
        "workspace_id": sender.workspace_id,
        "inbox_id": sender.inbox_id,
        "from_address": sender.address,
        "to_addresses": list(draft.to),
        "cc_addresses": list(draft.cc),
        "bcc_addresses": list(draft.bcc),
        "reply_to": list(draft.reply_to),
        "subject": draft.subject,
        "text_body": draft.text,
        "html_body": draft.html,
        "headers": draft.headers,
        "attachments": [attrs.asdict(a) for a in draft.attachments],
        "raw_mime": draft.raw,
        "message_id_header": draft.message_id_header,
        "in_reply_to": draft.in_reply_to,
        "memory_key": draft.memory_key,
        "status": "queued",
        "provider": provider,
        "provider_message_id": None,
        "attempts": 0,
        # The request hands it over at once; the outbox loop only if that never happens.
        "next_attempt_at": now + QUEUED_GRACE,
        "lease_until": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
        "thread_id": None if thread is None else thread.thread_id,
    }
    conn.execute(t.outbound_messages.insert().values(**row))
    if thread is not None:
        threads.record(
            conn, thread, workspace_id=sender.workspace_id, inbox_id=sender.inbox_id, now=now
        )
    add_event(conn, send_id, sender.workspace_id, "queued", draft.recipients, {}, now)
    return get_sent(conn, sender.inbox_id, send_id)


def _thread(conn: sa.Connection, draft: Draft, now: datetime) -> threads.Plan | None:
    """The thread of a send (none for a memory write): a reply's is the thread of the
    message it answers; a send is never threaded by its subject (domain.threads)."""
    if draft.memory_key is not None:
        return None
    inbox_id = draft.sender.inbox_id
    prefer = None
    if draft.in_reply_to is not None:
        prefer = threads.thread_of_message(conn, inbox_id, draft.in_reply_to)
    refs = draft.references
    headers = threads.Headers(
        message_id=draft.message_id_header,
        in_reply_to=refs[-1] if refs else None,
        references=refs[:-1],
        subject=draft.subject,
    )
    return threads.plan(conn, inbox_id, headers, now, by_subject=False, prefer=prefer)


def check_queue(
    conn: sa.Connection, draft: Draft, *, now: datetime, send_limit: int, recipient_limit: int
) -> None:
    """Raise what `queue` would (RecipientSuppressed, RecipientBlocked, QuotaExceeded),
    reading only: advice, which queue checks again. A send refused here never enters a
    write transaction, where on SQLite its error would undo the group commit of every write
    batched with it (each then runs again alone): a workspace sending past its quota would
    slow everyone's writes."""
    _refuse_suppressed(conn, draft)
    _refuse_listed(conn, draft)
    quotas.check_send(
        conn,
        draft.sender.workspace_id,
        draft.recipients,
        now=now,
        send_limit=send_limit,
        recipient_limit=recipient_limit,
    )


def _refuse_suppressed(conn: sa.Connection, draft: Draft) -> None:
    """RecipientSuppressed naming the field (to, cc, bcc) of the first suppressed address."""
    suppressed = suppressed_among(conn, draft.sender.workspace_id, draft.recipients)
    if not suppressed:
        return
    for param, values in (("to", draft.to), ("cc", draft.cc), ("bcc", draft.bcc)):
        addresses = {a.lower() for v in values for _, a in parse_addresses([v], header=param)}
        if addresses & set(suppressed):
            raise RecipientSuppressed(suppressed, param=param)
    raise RecipientSuppressed(suppressed)


def _refuse_listed(conn: sa.Connection, draft: Draft) -> None:
    """RecipientBlocked naming the field (to, cc, bcc) of the first recipient the sending
    inbox's send lists refuse (`listed_among`)."""
    sender = draft.sender
    refused = listed_among(
        conn, sender.workspace_id, sender.inbox_id, sender.address, draft.recipients
    )
    if not refused:
        return
    for param, values in (("to", draft.to), ("cc", draft.cc), ("bcc", draft.bcc)):
        addresses = {a.lower() for v in values for _, a in parse_addresses([v], header=param)}
        if addresses & {a.lower() for a in refused}:
            raise address_lists.RecipientBlocked(refused, param=param)
    raise address_lists.RecipientBlocked(refused)


def listed_among(
    conn: sa.Connection,
    workspace_id: str,
    inbox_id: str,
    own_address: str,
    recipients: Iterable[str],
) -> list[str]:
    """The recipients the inbox's send lists refuse (dispatch_server.domain.lists), when a
    send is queued and again at each attempt. The inbox's own address is never refused:
    mail to itself (its memory) leaves nothing."""
    others = [r for r in recipients if r.lower() != own_address.lower()]
    if not others:
        return []
    return address_lists.refused_among(conn, workspace_id, inbox_id, "send", others)


def suppressed_among(conn: sa.Connection, workspace_id: str, addresses: Iterable[str]) -> list[str]:
    wanted = sorted({a.lower() for a in addresses})
    if not wanted:
        return []
    found = conn.scalars(
        sa.select(t.recipient_suppressions.c.address).where(
            t.recipient_suppressions.c.workspace_id == workspace_id,
            t.recipient_suppressions.c.address.in_(wanted),
        )
    )
    return sorted(found)


# Outbound events that go to the workspace's event log, as the type they go there as.
LOGGED_OUTCOMES = {
    "sent": "message.sent",
    "delivered": "message.delivered",
    "bounced": "message.bounced",
    "complained": "message.complained",
    "rejected": "message.failed",
    "failed": "message.failed",
    "blocked": "message.failed",
}
# The reason a recipient refused by the send lists at an attempt is given.
BLOCKED_REASON = "recipient_blocked: refused by the send lists since the send was queued"


def add_event(
    conn: sa.Connection,
    send_id: str | None,
    workspace_id: str | None,
    event_type: str,
    recipients: Iterable[str],
    detail: Mapping[str, Any],
    occurred_at: datetime,
    *,
    source: str = "dispatch",
    provider_message_id: str | None = None,
    feedback_id: str | None = None,
) -> None:
    conn.execute(
        t.outbound_events.insert().values(
            id=new_id(),
            outbound_message_id=send_id,
            workspace_id=workspace_id,
            source=source,
            event_type=event_type,
            recipients=list(recipients),
            detail=dict(detail),
            provider_message_id=provider_message_id,
            feedback_id=feedback_id,
            occurred_at=occurred_at,
            created_at=occurred_at,
        )
    )
    logged = LOGGED_OUTCOMES.get(event_type)
    if logged is not None and send_id is not None and workspace_id is not None:
        inbox_id = conn.scalar(sa.select(_SENDS.inbox_id).where(_SENDS.id == send_id))
        log_outcome(
            conn,
            workspace_id=workspace_id,
            inbox_id=inbox_id,
            send_id=send_id,
            type=logged,
            recipients=recipients,
            status=event_type,
            detail=detail,
            now=occurred_at,
        )


def log_outcome(
    conn: sa.Connection,
    *,
    workspace_id: str,
    inbox_id: str | None,
    send_id: str,
    type: str,
    recipients: Iterable[str],
    status: str,
    detail: Mapping[str, Any],
    now: datetime,
) -> None:
    """What became of a sent message, in the workspace's event log (`message.sent` and the
    rest), in the caller's transaction: the one payload of every outcome type."""
    event_log.append(
        conn,
        workspace_id=workspace_id,
        inbox_id=inbox_id,
        type=type,
        payload={
            "inbox_id": inbox_id,
            "sent_id": send_id,
            "recipients": list(recipients),
            "status": status,
            "detail": dict(detail),
        },
        now=now,
    )


# --- handing over --------------------------------------------------------------------------

_SENDS = t.outbound_messages.c


def due(conn: sa.Connection, now: datetime, *, limit: int) -> list[str]:
    """Queued sends whose turn has come and that no live claim holds, oldest first."""
    query = (
        sa.select(_SENDS.id)
        .where(
            _SENDS.status == "queued",
            _SENDS.next_attempt_at <= now,
            sa.or_(_SENDS.lease_until.is_(None), _SENDS.lease_until < now),
        )
        .order_by(_SENDS.next_attempt_at)
        .limit(limit)
    )
    return list(conn.scalars(query))


def claim(
    conn: sa.Connection, send_id: str, now: datetime, lease: timedelta, *, due_only: bool
) -> Claimed | None:
    """Take the queued send for one provider call, until `now + lease`; None when it is not
    queued, another claim holds it, or (`due_only`) its turn has not come. A send whose
    recipients have all been suppressed since it was queued becomes `suppressed` instead (and
    a `message.failed` with that status goes to the event log); one whose (remaining)
    recipients the send lists now all refuse becomes `blocked` (a `blocked` event names them,
    as `message.failed` in the workspace's log; refused but some: the event, and the others
    get the mail)."""
    conditions = [
        _SENDS.id == send_id,
        _SENDS.status == "queued",
        sa.or_(_SENDS.lease_until.is_(None), _SENDS.lease_until < now),
    ]
    if due_only:
        conditions.append(_SENDS.next_attempt_at <= now)
    taken = conn.execute(
        t.outbound_messages.update()
        .where(*conditions)
        .values(lease_until=now + lease, attempts=_SENDS.attempts + 1, updated_at=now)
    )
    if taken.rowcount != 1:
        return None
    row = conn.execute(sa.select(t.outbound_messages).where(_SENDS.id == send_id)).one()
    # Each stored value alone, as draft read it: together they may pass a header's limit.
    recipients = _envelope(
        address
        for values in (row.to_addresses, row.cc_addresses, row.bcc_addresses)
        for value in values
        for _, address in parse_addresses([value], header="to")
    )
    suppressed = set(suppressed_among(conn, row.workspace_id, recipients))
    if suppressed:
        recipients = tuple(r for r in recipients if r not in suppressed)
        add_event(conn, send_id, row.workspace_id, "suppressed", sorted(suppressed), {}, now)
        if not recipients:
            _set(conn, send_id, now, status="suppressed", lease_until=None, next_attempt_at=None)
            log_outcome(
                conn,
                workspace_id=row.workspace_id,
                inbox_id=row.inbox_id,
                send_id=send_id,
                type="message.failed",
                recipients=sorted(suppressed),
                status="suppressed",
                detail={},
                now=now,
            )
            return None
    blocked = set(listed_among(conn, row.workspace_id, row.inbox_id, row.from_address, recipients))
    if blocked:
        recipients = tuple(r for r in recipients if r not in blocked)
        if not recipients:
            _set(
                conn,
                send_id,
                now,
                status="blocked",
                lease_until=None,
                next_attempt_at=None,
                last_error=BLOCKED_REASON,
            )
        add_event(
            conn,
            send_id,
            row.workspace_id,
            "blocked",
            sorted(blocked),
            {"reason": BLOCKED_REASON},
            now,
        )
        if not recipients:
            return None
    return Claimed(
        id=row.id,
        workspace_id=row.workspace_id,
        sender=row.from_address,
        recipients=recipients,
        raw=row.raw_mime,
        message_id=row.message_id_header.strip("<>"),
        attempts=row.attempts,
    )


def record_accepted(
    conn: sa.Connection, claimed: Claimed, accepted: Accepted, *, now: datetime
) -> None:
    """The provider took the send: `sent`, or `delivered` when it already arrived; refused
    recipients get a `bounced` event (all refused: the send is `bounced`)."""
    taken = [r for r in claimed.recipients if r not in set(accepted.refused)]
    status: SendStatus = "delivered" if accepted.delivered else "sent"
    if not taken:
        status = "bounced"
    _set(
        conn,
        claimed.id,
        now,
        provider_message_id=accepted.provider_message_id,
        lease_until=None,
        next_attempt_at=None,
        last_error=None,
        sent_at=now,
    )
    # Feedback may have come first (SNS can be quicker than this commit): it stays.
    conn.execute(
        t.outbound_messages.update()
        .where(_SENDS.id == claimed.id, _SENDS.status == "queued")
        .values(status=status)
    )
    ws = claimed.workspace_id
    # Events are listed by time: what follows from the hand-over comes after it.
    later = now + timedelta(microseconds=1)
    detail = (
        {"provider_message_id": accepted.provider_message_id}
        if accepted.provider_message_id
        else {}
    )
    if taken:
        add_event(conn, claimed.id, ws, "sent", taken, detail, now)
    if accepted.refused:
        add_event(conn, claimed.id, ws, "bounced", accepted.refused, {"reason": "refused"}, later)
    if accepted.delivered and taken:
        add_event(conn, claimed.id, ws, "delivered", taken, {}, later)


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from 2 s, at most 10 minutes."""
    delay: float = FIRST_RETRY_SECONDS * 2.0 ** max(0, attempts - 1)
    return min(MAX_RETRY_SECONDS, delay)


def record_failure(
    conn: sa.Connection,
    claimed: Claimed,
    reason: str,
    *,
    permanent: bool,
    now: datetime,
    max_attempts: int,
) -> None:
    """The provider did not take the send: `rejected` when it said so for good, `failed`
    after the last attempt, else queued again after a backoff."""
    reason = reason[:2000]
    ws = claimed.workspace_id
    if permanent or claimed.attempts >= max_attempts:
        status: SendStatus = "rejected" if permanent else "failed"
        _set(
            conn,
            claimed.id,
            now,
            status=status,
            lease_until=None,
            next_attempt_at=None,
            last_error=reason,
        )
        add_event(conn, claimed.id, ws, status, claimed.recipients, {"reason": reason}, now)
        return
    retry_at = now + timedelta(seconds=retry_delay(claimed.attempts))
    _set(conn, claimed.id, now, lease_until=None, next_attempt_at=retry_at, last_error=reason)
    add_event(
        conn,
        claimed.id,
        ws,
        "deferred",
        claimed.recipients,
        {"reason": reason, "retry_at": retry_at.isoformat()},
        now,
    )


def _set(conn: sa.Connection, send_id: str, now: datetime, **values: Any) -> None:
    conn.execute(
        t.outbound_messages.update().where(_SENDS.id == send_id).values(updated_at=now, **values)
    )


# --- reading -------------------------------------------------------------------------------


def _events(conn: sa.Connection, send_ids: Sequence[str]) -> dict[str, list[SentEvent]]:
    found: dict[str, list[SentEvent]] = {send_id: [] for send_id in send_ids}
    if not send_ids:
        return found
    events = t.outbound_events.c
    rows = conn.execute(
        sa.select(t.outbound_events)
        .where(events.outbound_message_id.in_(list(send_ids)))
        .order_by(events.occurred_at, events.created_at, events.id)
    )
    for row in rows:
        found[row.outbound_message_id].append(
            SentEvent(
                type=row.event_type,
                source=row.source,
                recipients=tuple(row.recipients),
                detail=dict(row.detail),
                occurred_at=row.occurred_at,
            )
        )
    return {key: value[-EVENTS_PER_MESSAGE:] for key, value in found.items()}


def get_sent(
    conn: sa.Connection, inbox_id: str, send_id: str, *, memory: bool = True
) -> SentMessage:
    """One sent message; a memory write only with `memory` (a key that may see memory)."""
    row = conn.execute(
        sa.select(t.outbound_messages).where(_SENDS.inbox_id == inbox_id, _SENDS.id == send_id)
    ).first()
    if row is None or (row.memory_key is not None and not memory):
        raise NotFound("sent message")
    return SentMessage.of(row, _events(conn, [row.id])[row.id])


def list_sent(
    conn: sa.Connection,
    inbox_id: str,
    *,
    limit: int,
    cursor: Cursor | None,
    status: SendStatus | None = None,
    memory: bool = True,
) -> Page[SentMessage]:
    """The inbox's sent mail, newest first, each with its events; its memory writes only
    with `memory` (a key that may see memory)."""
    query = sa.select(t.outbound_messages).where(_SENDS.inbox_id == inbox_id)
    if not memory:
        query = query.where(_SENDS.memory_key.is_(None))
    if status is not None:
        query = query.where(_SENDS.status == status)
    rows, next_cursor = page(
        conn,
        query,
        t.outbound_messages,
        "sent",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
    )
    events = _events(conn, [row.id for row in rows])
    return Page([SentMessage.of(row, events[row.id]) for row in rows], next_cursor)
