"""An inbox's messages: pages, one message with its artifacts, and the raw MIME."""

from __future__ import annotations

from datetime import datetime

import attrs
from starlette.responses import Response

from dispatch_server.api.artifacts import Artifact, retention_cutoff
from dispatch_server.auth.principal import Scope
from dispatch_server.domain import messages
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field
from dispatch_server.mail import parse

CURSOR = params.page_cursor("message")
FOLDER = params.choice("folder", messages.FOLDER_FILTERS, default="inbox")


@attrs.frozen(kw_only=True)
class Attachment:
    filename: str | None
    content_type: str
    size_bytes: int

    @classmethod
    def of(cls, attachment: parse.Attachment) -> Attachment:
        return cls(
            filename=attachment.filename,
            content_type=attachment.content_type,
            size_bytes=attachment.size_bytes,
        )


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
            attachments=tuple(Attachment.of(a) for a in message.attachments),
        )


@attrs.frozen(kw_only=True)
class MessageWithArtifacts(Message):
    """A message with the OTPs and links found in it."""

    artifacts: tuple[Artifact, ...]

    @classmethod
    def of_found(cls, found: messages.MessageWithArtifacts) -> MessageWithArtifacts:
        return cls(
            **attrs.asdict(Message.of(found.message), recurse=False),
            artifacts=tuple(Artifact.of(a) for a in found.artifacts),
        )


async def list_messages(call: Call[None]) -> Page[Message]:
    found = await call.services.db.run_read(
        messages.list_messages,
        call.path("inbox_id"),
        folder=call.query(FOLDER),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
        cutoff=retention_cutoff(call),
    )
    return Page.of(found, Message.of)


async def get_message(call: Call[None]) -> MessageWithArtifacts:
    found = await call.services.db.run_read(
        messages.get_message,
        call.path("inbox_id"),
        call.path("message_id"),
        cutoff=retention_cutoff(call),
    )
    return MessageWithArtifacts.of_found(found)


async def get_raw_message(call: Call[None]) -> Response:
    raw = await call.services.db.run_read(
        messages.get_raw,
        call.path("inbox_id"),
        call.path("message_id"),
        cutoff=retention_cutoff(call),
    )
    return Response(raw, media_type="message/rfc822")


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages",
        handler=list_messages,
        summary="Messages, newest first",
        scope=Scope.INBOX,
        response=Page[Message],
        query=(params.LIMIT, CURSOR, FOLDER),
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}",
        handler=get_message,
        summary="One message with its artifacts",
        scope=Scope.INBOX,
        response=MessageWithArtifacts,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}/raw",
        handler=get_raw_message,
        summary="The message as received",
        scope=Scope.INBOX,
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
