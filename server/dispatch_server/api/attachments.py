"""A received message's attachments: the list (safe file names, content types, sizes,
Content-IDs) and each one's content, streamed from the raw message a chunk at a time.

A download is always `Content-Disposition: attachment` with `nosniff` and a sandboxing
policy: what a sender wrote (HTML, SVG, scripts) is never shown inline from this origin.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import attrs
from starlette.responses import Response, StreamingResponse

from dispatch_server.api.artifacts import retention_cutoff
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.core.errors import InvalidInput
from dispatch_server.domain import attachments
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project
from dispatch_server.mail.attachments import decoder
from dispatch_server.services import Services

# Encoded bytes read from the raw message per statement: a download holds about this much.
CHUNK_BYTES = 256 * 1024
_ATTACHMENT_ID = re.compile(r"[0-9]{1,6}")
# A content type served as declared when it is `type/subtype` in token characters; any
# other is served as octet-stream.
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,127}")
_SERVED_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private, no-store",
    "referrer-policy": "no-referrer",
}


@attrs.frozen(kw_only=True)
class MessageAttachment:
    id: int = field(
        description="the attachment's position among the message's attachments, from 0; "
        "`GET …/attachments/{id}` downloads it"
    )
    filename: str = field(
        description="safe to save under: encoded names decoded, no path, control or bidi "
        "characters, no reserved device name; `attachment-<n>` when the mail names none"
    )
    content_type: str
    size_bytes: int = field(description="of the decoded content")
    content_id: str | None = field(
        description="the part's Content-ID without angle brackets (what `cid:` URLs in the "
        "HTML name); null without one, and for mail stored before Content-IDs were kept"
    )

    @classmethod
    def of(cls, found: attachments.Attachment) -> MessageAttachment:
        return project(cls, found)


def attachment_id(value: str) -> int:
    """The path's attachment id: a position, else 400 naming `attachment_id`."""
    if not _ATTACHMENT_ID.fullmatch(value):
        raise InvalidInput(
            "attachment_id must be an attachment's position (0, 1, ...)", param="attachment_id"
        )
    return int(value)


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice (RFC 6266): an ASCII `filename` for old clients and
    `filename*` in UTF-8 for the rest."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\%' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def download(services: Services, inbox_id: str, found: attachments.Attachment) -> Response:
    """The attachment's content as a download: streamed a chunk at a time from its range,
    or, stored without one, from the message parsed whole."""
    content_type = found.content_type if _CONTENT_TYPE.fullmatch(found.content_type) else ""
    headers = {"content-disposition": content_disposition(found.filename), **_SERVED_HEADERS}
    media_type = content_type or "application/octet-stream"
    if not found.ranged:
        inbound = services.settings.inbound
        content = await services.db.run_read(
            attachments.read_whole,
            inbox_id,
            found,
            max_parts=inbound.max_mime_parts,
            max_depth=inbound.max_mime_depth,
        )
        return Response(content, media_type=media_type, headers=headers)
    return StreamingResponse(
        _chunks(services, inbox_id, found), media_type=media_type, headers=headers
    )


class DownloadCut(Exception):
    """The message went while its attachment was streaming."""


async def _chunks(
    services: Services, inbox_id: str, found: attachments.Attachment
) -> AsyncIterator[bytes]:
    assert found.encoding is not None and found.start is not None and found.length is not None
    decoding = decoder(found.encoding)
    end = found.start + found.length
    for offset in range(found.start, end, CHUNK_BYTES):
        size = min(CHUNK_BYTES, end - offset)
        chunk = await services.db.run_read(
            attachments.read_range, inbox_id, found.message_id, offset, size
        )
        if chunk is None:
            # Deleted during the download (the retention purge): abort the response, so
            # the client sees a broken transfer, never a complete-looking short body.
            raise DownloadCut(found.message_id)
        if decoded := decoding.feed(chunk):
            yield decoded
    if rest := decoding.end():
        yield rest


async def list_attachments(call: Call[None]) -> Page[MessageAttachment]:
    found = await call.services.db.run_read(
        attachments.list_attachments,
        call.path("inbox_id"),
        call.path("message_id"),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return Page(data=tuple(MessageAttachment.of(a) for a in found), next_cursor=None)


async def download_attachment(call: Call[None]) -> Response:
    inbox_id = call.path("inbox_id")
    index = attachment_id(call.path("attachment_id"))
    found = await call.services.db.run_read(
        attachments.get_attachment,
        inbox_id,
        call.path("message_id"),
        index,
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return await download(call.services, inbox_id, found)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}/attachments",
        handler=list_attachments,
        summary="The message's attachments, in the order of the message (one page, no cursor)",
        scope=Scope.INBOX,
        permission="read",
        response=Page[MessageAttachment],
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/messages/{message_id}/attachments/{attachment_id}",
        handler=download_attachment,
        summary="One attachment's content, streamed, as a download",
        description="Always `Content-Disposition: attachment` (RFC 6266 `filename*`), with "
        "`X-Content-Type-Options: nosniff`; the declared content type, or "
        "`application/octet-stream` when it is not `type/subtype`.",
        scope=Scope.INBOX,
        permission="read",
        openapi_extra={
            "responses": {
                "200": {
                    "description": "The decoded content",
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                }
            }
        },
    ),
]
