"""Sending mail: `POST /v1/send`, replies to received mail, and the inbox's sent mail with
each message's delivery state and events."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import attrs
import sqlalchemy as sa

from dispatch_server.auth import policy
from dispatch_server.auth.principal import Principal, Scope
from dispatch_server.config import Settings
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import InvalidInput, NotFound
from dispatch_server.domain import inboxes, sends
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project
from dispatch_server.mail.compose import Attachment
from dispatch_server.services import Services

CURSOR = params.page_cursor("sent")
STATUS = params.choice(
    "status",
    sends.SEND_STATUSES,
    default=cast(sends.SendStatus | None, None),
    description="only sent mail in this delivery state",
)
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
# Composing a send this large takes longer than a thread hand-off.
_INLINE_BYTES = 64 * 1024


def send_body_limit(settings: Settings) -> int:
    """A send's JSON body: base64 attachments (4/3 of their bytes) and the bodies."""
    return settings.outbound.max_attachment_bytes * 4 // 3 + 2 * sends.MAX_BODY_CHARS + 65536


@attrs.frozen(kw_only=True)
class AttachmentIn:
    filename: str = field(maxLength=255)
    content: str = field(description="the file's bytes in base64")
    content_type: str = field(default="application/octet-stream", maxLength=255)


@attrs.frozen(kw_only=True)
class AttachmentInfo:
    filename: str
    content_type: str
    size_bytes: int


def addresses_field(description: str) -> tuple[str, ...]:
    """A list of addresses in a request body (a send's, a draft's), empty by default."""
    value: tuple[str, ...] = field(factory=tuple, description=description)
    return value


@attrs.frozen(kw_only=True)
class SendMail:
    """A message to send from an inbox. Addresses are `a@b.example` or
    `Name <a@b.example>`, one a string; international domains are sent in punycode."""

    inbox_id: str | None = field(
        default=None,
        description="the inbox to send from: needed with an account key; with an inbox key, "
        "that inbox (another id is a 404)",
    )
    to: tuple[str, ...] = addresses_field("recipients shown in To")
    cc: tuple[str, ...] = addresses_field("recipients shown in Cc")
    bcc: tuple[str, ...] = addresses_field("recipients no header shows")
    reply_to: tuple[str, ...] = addresses_field("addresses replies should go to")
    subject: str = field(default="", maxLength=sends.MAX_SUBJECT_CHARS)
    text: str | None = field(default=None, description="the plain-text body")
    html: str | None = field(default=None, description="the HTML body")
    headers: dict[str, str] = field(
        factory=dict,
        description="extra headers: X- headers, List-Unsubscribe(-Post), List-Id, "
        "Auto-Submitted, Precedence, Importance, Priority, X-Priority, Keywords, Comments",
    )
    attachments: tuple[AttachmentIn, ...] = field(factory=tuple, maxItems=sends.MAX_ATTACHMENTS)
    in_reply_to: str | None = field(
        default=None,
        description="the id of a message this inbox received: sets In-Reply-To and "
        "References, so the reply stays in its thread",
    )


@attrs.frozen(kw_only=True)
class ReplyMail:
    """A reply to a received message: to its Reply-To (else its From), subject "Re: …",
    in its thread."""

    text: str | None = None
    html: str | None = None
    reply_all: bool = field(
        default=False, description="also to the message's other To and Cc recipients"
    )
    cc: tuple[str, ...] = addresses_field("more recipients shown in Cc")
    bcc: tuple[str, ...] = addresses_field("recipients no header shows")
    headers: dict[str, str] = field(factory=dict, description="as for a send")
    attachments: tuple[AttachmentIn, ...] = field(factory=tuple, maxItems=sends.MAX_ATTACHMENTS)


@attrs.frozen(kw_only=True)
class SentEvent:
    """One step of a sent message: the server's (`queued`, `sent`, `deferred`,
    `delivered`, `bounced`, `rejected`, `failed`, `suppressed`, `blocked`) or the provider's
    feedback (`delivery`, `bounce`, `complaint`, `reject`, `delivery_delay`, `send`)."""

    type: str
    source: str = field(description="`dispatch`, or the provider (`ses`)")
    recipients: tuple[str, ...]
    detail: dict[str, str]
    occurred_at: datetime

    @classmethod
    def of(cls, event: sends.SentEvent) -> SentEvent:
        return project(cls, event, detail={k: str(v) for k, v in event.detail.items()})


@attrs.frozen(kw_only=True)
class SentMessage:
    """A message an inbox sent, with its latest delivery state."""

    id: str
    inbox_id: str
    from_: str = field(name="from", description="the inbox's address")
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    attachments: tuple[AttachmentInfo, ...]
    message_id: str = field(description="the Message-ID header, with its angle brackets")
    in_reply_to: str | None = field(description="the id of the received message answered")
    status: sends.SendStatus = field(
        description="`queued` (waiting for its first or next attempt), `sent` (the provider "
        "took it), `delivered`, `bounced`, `complained`, `rejected` (the provider refused it "
        "for good), `failed` (every attempt failed), `suppressed` (every recipient was "
        "suppressed before it went), `blocked` (the send lists came to refuse every recipient "
        "before it went)"
    )
    provider: str
    provider_message_id: str | None
    attempts: int
    next_attempt_at: datetime | None = field(description="while queued: the next attempt")
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    events: tuple[SentEvent, ...] = field(description="oldest first, the last 50")
    thread_id: str | None = field(
        description="its thread (`GET …/threads/{thread_id}`); null for a memory write"
    )

    @classmethod
    def of(cls, sent: sends.SentMessage) -> SentMessage:
        return project(
            cls,
            sent,
            from_=sent.from_address,
            to=sent.to_addresses,
            cc=sent.cc_addresses,
            bcc=sent.bcc_addresses,
            text=sent.text_body,
            html=sent.html_body,
            attachments=tuple(project(AttachmentInfo, a) for a in sent.attachments),
            message_id=sent.message_id_header,
            events=tuple(SentEvent.of(e) for e in sent.events),
        )


def decode_attachments(attachments: tuple[AttachmentIn, ...]) -> tuple[Attachment, ...]:
    decoded = []
    for attachment in attachments:
        content = attachment.content.encode("ascii", "replace")
        content = b"".join(content.split())  # base64 folded in lines is base64 too
        if not _BASE64.fullmatch(content):
            raise InvalidInput("attachments.content must be base64", param="attachments.content")
        try:
            data = base64.b64decode(content, validate=True)
        except binascii.Error:
            raise InvalidInput(
                "attachments.content is not valid base64", param="attachments.content"
            ) from None
        decoded.append(Attachment(attachment.filename, attachment.content_type, data))
    return tuple(decoded)


def sending_inbox(principal: Principal, inbox_id: str | None) -> str:
    """The inbox a send goes from: the inbox key's own, or the one an account key names."""
    if principal.kind == "inbox":
        if inbox_id is not None and inbox_id != principal.inbox_id:
            raise NotFound("inbox")
        assert principal.inbox_id is not None
        return principal.inbox_id
    if inbox_id is None:
        raise InvalidInput("with an account key, name the inbox to send from", param="inbox_id")
    return inbox_id


async def send_from(
    services: Services,
    principal: Principal,
    inbox_id: str,
    fields: sends.SendFields,
    *,
    then: Callable[[sa.Connection], None] | None = None,
) -> sends.SentMessage:
    """Validate, compose, queue durably (quotas and suppressions), then hand over: the one
    path of every send (a send, a reply, a memory write, a draft's send). `then` runs in
    the transaction that queues the send (a draft's send deletes the draft there); what it
    raises undoes the queueing."""
    db, outbound = services.db, services.settings.outbound
    sender = await db.run_read(sends.sender_of, principal.workspace_id, inbox_id)
    thread = None
    if fields.in_reply_to is not None:
        thread = await db.run_read(
            sends.thread_of,
            inbox_id,
            fields.in_reply_to,
            param="in_reply_to",
            senders=policy.senders_of(principal),
        )
    make = functools.partial(
        sends.draft,
        sender,
        fields,
        thread,
        max_recipients=outbound.max_recipients,
        max_attachment_bytes=outbound.max_attachment_bytes,
    )
    size = sum(len(a.data) for a in fields.attachments)
    size += len(fields.text or "") + len(fields.html or "")
    draft = make() if size <= _INLINE_BYTES else await asyncio.to_thread(make)
    send_limit, recipient_limit = outbound.daily_limits(sender.plan)
    limits = {"send_limit": send_limit, "recipient_limit": recipient_limit}
    await db.run_read(sends.check_queue, draft, now=utcnow(), **limits)
    queued = await db.run_write(
        _queue, draft, then, provider=outbound.provider, now=utcnow(), **limits
    )
    await services.outbox.hand_over(queued.id)
    return await db.run_read(sends.get_sent, inbox_id, queued.id)


def _queue(
    conn: sa.Connection,
    draft: sends.Draft,
    then: Callable[[sa.Connection], None] | None,
    **kwargs: Any,
) -> sends.SentMessage:
    if then is not None:
        then(conn)
    return sends.queue(conn, draft, **kwargs)


async def send(call: Call[SendMail]) -> SentMessage:
    body = call.body
    inbox_id = sending_inbox(call.principal, body.inbox_id)
    fields = sends.SendFields(
        to=body.to,
        cc=body.cc,
        bcc=body.bcc,
        reply_to=body.reply_to,
        subject=body.subject,
        text=body.text,
        html=body.html,
        headers=body.headers,
        attachments=decode_attachments(body.attachments),
        in_reply_to=body.in_reply_to,
    )
    return SentMessage.of(await send_from(call.services, call.principal, inbox_id, fields))


def reply_subject(subject: str | None) -> str:
    subject = (subject or "").strip()
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()


async def reply_fields(
    services: Services,
    principal: Principal,
    inbox_id: str,
    message_id: str,
    *,
    text: str | None,
    html: str | None = None,
    reply_all: bool = False,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> sends.SendFields:
    """The send of a reply to a received message: to its Reply-To (else its From), with its
    other recipients when `reply_all`, subject "Re: …", in its thread. A reply sent
    (`reply_to`) and one saved as a draft (the mail desk) are made here."""
    db = services.db
    thread = await db.run_read(
        sends.thread_of,
        inbox_id,
        message_id,
        param="message_id",
        senders=policy.senders_of(principal),
    )
    sender = await db.run_read(sends.sender_of, principal.workspace_id, inbox_id)
    to, others = sends.reply_recipients(sender, thread, reply_all=reply_all)
    return sends.SendFields(
        to=to,
        cc=(*others, *cc),
        bcc=bcc,
        subject=reply_subject(thread.subject),
        text=text,
        html=html,
        headers=headers or {},
        attachments=attachments,
        in_reply_to=message_id,
    )


async def reply_to(
    services: Services,
    principal: Principal,
    inbox_id: str,
    message_id: str,
    *,
    text: str | None,
    html: str | None = None,
    reply_all: bool = False,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> sends.SentMessage:
    """Reply to a received message (`reply_fields`), sent as every send is. The API's reply
    and the console's mail desk both reply through this."""
    fields = await reply_fields(
        services,
        principal,
        inbox_id,
        message_id,
        text=text,
        html=html,
        reply_all=reply_all,
        cc=cc,
        bcc=bcc,
        headers=headers,
        attachments=attachments,
    )
    return await send_from(services, principal, inbox_id, fields)


async def reply(call: Call[ReplyMail]) -> SentMessage:
    body = call.body
    sent = await reply_to(
        call.services,
        call.principal,
        call.path("inbox_id"),
        call.path("message_id"),
        text=body.text,
        html=body.html,
        reply_all=body.reply_all,
        cc=body.cc,
        bcc=body.bcc,
        headers=body.headers,
        attachments=decode_attachments(body.attachments),
    )
    return SentMessage.of(sent)


async def _sent_mail_readable(call: Call[None]) -> bool:
    """Whether the key may read the inbox's sent mail: its From is the inbox's address,
    which a key restricted to some senders may read only if they include it."""
    senders = policy.senders_of(call.principal)
    if senders is None:
        return True
    inbox = await call.services.db.run_read(
        inboxes.get_inbox, call.principal.workspace_id, call.path("inbox_id")
    )
    return policy.sender_allowed(senders, inbox.address)


async def list_sent(call: Call[None]) -> Page[SentMessage]:
    if not await _sent_mail_readable(call):
        return Page(data=(), next_cursor=None)
    found = await call.services.db.run_read(
        sends.list_sent,
        call.path("inbox_id"),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
        status=call.query(STATUS),
        memory=policy.reads_memory(call.principal),
    )
    return Page.of(found, SentMessage.of)


async def get_sent(call: Call[None]) -> SentMessage:
    if not await _sent_mail_readable(call):
        raise NotFound("sent message")
    sent = await call.services.db.run_read(
        sends.get_sent,
        call.path("inbox_id"),
        call.path("sent_id"),
        memory=policy.reads_memory(call.principal),
    )
    return SentMessage.of(sent)


_SEND_DESCRIPTION = (
    "The message is stored before any provider is called, and answered with its state: "
    "`delivered`/`sent` when the provider took it, `queued` when it will be retried, "
    "`rejected` when the provider refused it. Send an `Idempotency-Key` (the SDK does) so a "
    "retry never sends twice."
)

ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/send",
        handler=send,
        summary="Send mail from an inbox",
        description="An inbox key sends from its inbox; an account key names the inbox "
        f"(`inbox_id` in the body). {_SEND_DESCRIPTION}",
        scope=Scope.ANY_KEY,
        permission="send",
        body=SendMail,
        response=SentMessage,
        status=201,
        idempotent=True,
        body_limit=send_body_limit,
    ),
    Endpoint(
        method="POST",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}/reply",
        handler=reply,
        summary="Reply to a received message",
        description=_SEND_DESCRIPTION,
        scope=Scope.INBOX,
        permission="send",
        body=ReplyMail,
        response=SentMessage,
        status=201,
        idempotent=True,
        body_limit=send_body_limit,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/sent",
        handler=list_sent,
        summary="List the inbox's sent mail, newest first",
        scope=Scope.INBOX,
        permission="read",
        response=Page[SentMessage],
        query=(params.LIMIT, CURSOR, STATUS),
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/sent/{sent_id}",
        handler=get_sent,
        summary="Get a sent message with its delivery events",
        scope=Scope.INBOX,
        permission="read",
        response=SentMessage,
    ),
]
