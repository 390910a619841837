"""An inbox's messages: pages of summaries (filtered by folder, the trash, a user label,
read state), one message with its bodies and artifacts, and the raw MIME. Changing a
message's state and labels is dispatch_server.api.labels'."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs
from starlette.responses import Response

from dispatch_server.api.artifacts import Artifact, retention_cutoff
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.core.pagination import Cursor
from dispatch_server.domain import labels, messages
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project, within
from dispatch_server.mail import parse
from dispatch_server.mail import verdicts as v
from dispatch_server.mail.attachments import safe_filename

CURSOR = params.page_cursor("message")
FOLDER = params.choice("folder", messages.FOLDER_FILTERS, default="inbox")
LISTING_FOLDER = params.choice(
    "folder",
    messages.LISTING_FOLDERS,
    default="inbox",
    description="a folder's mail out of the trash; `trash`: the trashed mail of every folder; "
    "`all`: everything",
)
LABEL = params.text("label", description="only the messages with this user label (any case)")
UNREAD = params.choice(
    "unread",
    ("true", "false"),
    default=None,
    description="`true`: only unread messages; `false`: only read ones",
)
# A page of summaries is cut short (with a next_cursor) before it passes this; summaries are
# small, so only pages of unusually long subjects or many recipients come near it.
PAGE_BUDGET_BYTES = 256 * 1024
_LABELS = "its user labels (docs/labels.md), by name"
_READ_AT = "when it was first marked read (API, CLI, the console's desk); null: unread"
_TRASHED_AT = "when it was put in the trash; null: not trashed (`folder` is where it stays)"
_THREAD = (
    "its thread (`GET …/threads/{thread_id}`); null for spam, quarantined mail and memory "
    "writes, which are not threaded"
)


@attrs.frozen(kw_only=True)
class Attachment:
    filename: str | None
    content_type: str
    size_bytes: int

    @classmethod
    def of(cls, attachment: parse.Attachment, position: int) -> Attachment:
        name = attachment.filename
        return project(cls, attachment, filename=name and safe_filename(name, position))


@attrs.frozen(kw_only=True)
class MessageSummary:
    """A message as listings show it, without its bodies: `GET …/messages/{message_id}` has
    them. Texts longer than a summary takes end with "…"."""

    id: str
    inbox_id: str
    from_: str | None = field(
        name="from",
        description=f"the From header, cut to {messages.SUMMARY_HEADER_CHARS} characters",
    )
    from_address: str | None
    to: tuple[str, ...] = field(
        description=f"the first {messages.SUMMARY_ADDRESSES} addresses of the To header"
    )
    subject: str | None = field(
        description=f"the Subject, cut to {messages.SUMMARY_HEADER_CHARS} characters"
    )
    preview: str | None = field(
        description=f"the start of the text (else of the HTML's visible text), whitespace "
        f"squeezed, at most {messages.PREVIEW_CHARS} characters; null without either body"
    )
    folder: messages.Folder
    size_bytes: int
    received_at: datetime
    attachment_count: int
    has_otp: bool = field(description="the message has an OTP (its `otp` in the single view)")
    has_link: bool = field(description="the message has at least one link")
    thread_id: str | None = field(description=_THREAD)
    unread: bool
    read_at: datetime | None = field(description=_READ_AT)
    trashed_at: datetime | None = field(description=_TRASHED_AT)
    labels: tuple[str, ...] = field(description=_LABELS)

    @classmethod
    def of(cls, summary: messages.MessageSummary) -> MessageSummary:
        return project(
            cls,
            summary,
            from_=summary.from_header,
            to=summary.to_addresses,
            unread=summary.unread,
        )


AuthResult = Literal[
    "pass", "fail", "softfail", "neutral", "none", "policy", "temperror", "permerror"
]
ScanResult = Literal["pass", "fail", "gray", "processing_failed"]
Policy = Literal["none", "quarantine", "reject"]
assert set(AuthResult.__args__) == set(v.RESULTS)  # type: ignore[attr-defined]
assert set(ScanResult.__args__) == set(v.SCAN_RESULTS)  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True)
class SpfResult:
    result: AuthResult
    why: str | None
    domain: str | None = field(
        description="the domain whose SPF record was checked: MAIL FROM's, else HELO's"
    )


@attrs.frozen(kw_only=True)
class DkimResult:
    result: AuthResult
    why: str | None
    domain: str | None = field(description="the `d=` of the signature that decided")


@attrs.frozen(kw_only=True)
class DmarcResult:
    result: AuthResult
    why: str | None
    domain: str | None = field(description="the From domain")
    policy: Policy | None = field(
        description="what the From domain's DMARC record asks for failing mail (after `pct`)"
    )


@attrs.frozen(kw_only=True)
class MessageAuthentication:
    """How the message was authenticated, and why it is in its folder. An absent check is
    null: the door it came through did not make it (the dev webhook makes none; the SMTP
    door none with DISPATCH_VERIFY_INBOUND_AUTH=false)."""

    checked_by: Literal["dispatch", "ses", "webhook"] | None = field(
        description="`dispatch`: this server checked (SMTP door); `ses`: Amazon SES did"
    )
    spf: SpfResult | None
    dkim: DkimResult | None
    dmarc: DmarcResult | None
    spam: ScanResult | None = field(description="the receiving provider's spam verdict")
    virus: ScanResult | None = field(description="the receiving provider's virus verdict")
    folder_reason: str | None = field(description="why the message is not in the inbox")

    @classmethod
    def of(cls, message: messages.Message) -> MessageAuthentication:
        found = message.verdicts
        spf, dkim, dmarc = found.spf, found.dkim, found.dmarc
        return cls(
            checked_by=_known(found.source, v.SOURCES),  # type: ignore[arg-type]
            spf=None
            if spf is None or spf.result not in v.RESULTS
            else SpfResult(result=spf.result, why=spf.why, domain=spf.domain),  # type: ignore[arg-type]
            dkim=None
            if dkim is None or dkim.result not in v.RESULTS
            else DkimResult(result=dkim.result, why=dkim.why, domain=dkim.domain),  # type: ignore[arg-type]
            dmarc=None
            if dmarc is None or dmarc.result not in v.RESULTS
            else DmarcResult(
                result=dmarc.result,  # type: ignore[arg-type]
                why=dmarc.why,
                domain=dmarc.domain,
                policy=_known(dmarc.policy, v.POLICIES),  # type: ignore[arg-type]
            ),
            spam=_known(found.spam, v.SCAN_RESULTS),  # type: ignore[arg-type]
            virus=_known(found.virus, v.SCAN_RESULTS),  # type: ignore[arg-type]
            folder_reason=message.folder_reason,
        )


def _known(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _after(summary: MessageSummary) -> str:
    return Cursor("message", summary.received_at, summary.id).encode()


@attrs.frozen(kw_only=True)
class Message:
    id: str
    inbox_id: str
    from_: str | None = field(name="from", description="the From header")
    from_address: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str | None
    text: str | None
    html: str | None
    message_id_header: str | None
    folder: messages.Folder
    size_bytes: int
    received_at: datetime
    attachments: tuple[Attachment, ...]
    authentication: MessageAuthentication
    thread_id: str | None = field(description=_THREAD)
    unread: bool
    read_at: datetime | None = field(description=_READ_AT)
    trashed_at: datetime | None = field(description=_TRASHED_AT)
    labels: tuple[str, ...] = field(description=_LABELS)

    @classmethod
    def of(cls, message: messages.Message) -> Message:
        return cls(
            id=message.id,
            inbox_id=message.inbox_id,
            from_=message.from_header,
            from_address=message.from_address,
            to=message.to_addresses,
            cc=message.cc_addresses,
            subject=message.subject,
            text=message.text_body,
            html=message.html_body,
            message_id_header=message.message_id_header,
            folder=message.folder,
            size_bytes=message.size_bytes,
            received_at=message.received_at,
            attachments=tuple(
                Attachment.of(a, position) for position, a in enumerate(message.attachments)
            ),
            authentication=MessageAuthentication.of(message),
            thread_id=message.thread_id,
            unread=message.read_at is None,
            read_at=message.read_at,
            trashed_at=message.trashed_at,
            labels=message.labels,
        )


@attrs.frozen(kw_only=True)
class MessageWithArtifacts(Message):
    """A message with the OTPs and links found in it."""

    artifacts: tuple[Artifact, ...]

    @classmethod
    def of_found(cls, found: messages.MessageWithArtifacts) -> MessageWithArtifacts:
        artifacts = tuple(Artifact.of(a) for a in found.artifacts)
        return project(cls, Message.of(found.message), artifacts=artifacts)


async def list_messages(call: Call[None]) -> Page[MessageSummary]:
    label = call.query(LABEL)
    unread = call.query(UNREAD)
    found = await call.services.db.run_read(
        messages.list_messages,
        call.path("inbox_id"),
        folder=messages.visible_folder(
            call.query(LISTING_FOLDER), memory=policy.reads_memory(call.principal)
        ),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
        label_key=None if label is None else labels.label_key(labels.label_name(label, "label")),
        unread=None if unread is None else unread == "true",
    )
    return within(Page.of(found, MessageSummary.of), PAGE_BUDGET_BYTES, _after)


async def get_message(call: Call[None]) -> MessageWithArtifacts:
    found = await call.services.db.run_read(
        messages.get_message,
        call.path("inbox_id"),
        call.path("message_id"),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return MessageWithArtifacts.of_found(found)


async def get_raw_message(call: Call[None]) -> Response:
    raw = await call.services.db.run_read(
        messages.get_raw,
        call.path("inbox_id"),
        call.path("message_id"),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return Response(raw, media_type="message/rfc822")


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages",
        handler=list_messages,
        summary="Summaries of the messages, newest first",
        scope=Scope.INBOX,
        permission="read",
        response=Page[MessageSummary],
        query=(params.LIMIT, CURSOR, LISTING_FOLDER, LABEL, UNREAD),
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}",
        handler=get_message,
        summary="One message with its bodies and artifacts",
        scope=Scope.INBOX,
        permission="read",
        response=MessageWithArtifacts,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}/raw",
        handler=get_raw_message,
        summary="The message as received",
        scope=Scope.INBOX,
        permission="read",
        openapi_extra={
            "responses": {
                "200": {
                    "description": "RFC 5322 bytes",
                    "content": {
                        "message/rfc822": {"schema": {"type": "string", "format": "binary"}}
                    },
                }
            }
        },
    ),
]
