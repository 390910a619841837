"""A received message's attachments: their descriptions, and their content read as a range
of the raw message, a chunk per statement, so that a download never holds the message."""

from __future__ import annotations

from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.auth.policy import Senders, sender_clause
from dispatch_server.core.errors import NotFound
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.mail import parse
from dispatch_server.mail.attachments import safe_filename

_m = t.messages


@attrs.frozen(kw_only=True)
class Attachment:
    """One attachment of a message. `id` is its position among the message's attachments
    (from 0), which never changes: a stored message is never rewritten."""

    id: int
    message_id: str
    filename: str  # safe to save under (mail.attachments.safe_filename)
    content_type: str
    size_bytes: int
    content_id: str | None
    # Where the encoded body is in the raw message; None: read the message whole.
    encoding: str | None
    start: int | None
    length: int | None

    @property
    def ranged(self) -> bool:
        return self.encoding is not None and self.start is not None and self.length is not None

    @classmethod
    def of(cls, message_id: str, position: int, stored: parse.Attachment) -> Attachment:
        return cls(
            id=position,
            message_id=message_id,
            filename=safe_filename(stored.filename, position),
            content_type=stored.content_type,
            size_bytes=stored.size_bytes,
            content_id=stored.content_id,
            encoding=stored.encoding,
            start=stored.start,
            length=stored.length,
        )


def _readable(
    inbox_id: str, message_id: str, cutoff: datetime, senders: Senders
) -> sa.ColumnElement[bool]:
    """The message, if the caller may read it: the same rule as reading the message."""
    return sa.and_(
        _m.c.inbox_id == inbox_id,
        _m.c.id == message_id,
        _m.c.received_at >= cutoff,
        sender_clause(senders, _m.c.from_address),
    )


def list_attachments(
    conn: sa.Connection,
    inbox_id: str,
    message_id: str,
    *,
    cutoff: datetime,
    senders: Senders = None,
) -> tuple[Attachment, ...]:
    """The message's attachments in the order of the message. Raises NotFound("message")."""
    stored = conn.scalar(
        sa.select(_m.c.attachments).where(_readable(inbox_id, message_id, cutoff, senders))
    )
    if stored is None:
        raise NotFound("message")
    return tuple(
        Attachment.of(message_id, position, parse.Attachment(**item))
        for position, item in enumerate(stored)
    )


def get_attachment(
    conn: sa.Connection,
    inbox_id: str,
    message_id: str,
    attachment_id: int,
    *,
    cutoff: datetime,
    senders: Senders = None,
) -> Attachment:
    """One attachment. Raises NotFound("message") or NotFound("attachment")."""
    found = list_attachments(conn, inbox_id, message_id, cutoff=cutoff, senders=senders)
    if not 0 <= attachment_id < len(found):
        raise NotFound("attachment")
    return found[attachment_id]


def read_range(
    conn: sa.Connection, inbox_id: str, message_id: str, start: int, length: int
) -> bytes | None:
    """`length` bytes of the raw message from `start`; None once the message is gone (the
    retention purge may delete it during a download)."""
    chunk = conn.scalar(
        sa.select(dialect.blob_slice(_m.c.raw_mime, start, length)).where(
            _m.c.inbox_id == inbox_id, _m.c.id == message_id
        )
    )
    return None if chunk is None else bytes(chunk)


def read_whole(
    conn: sa.Connection,
    inbox_id: str,
    attachment: Attachment,
    *,
    max_parts: int,
    max_depth: int,
) -> bytes:
    """The content of an attachment stored without a range (mail stored before ranges were
    recorded, an attached message, uuencode), from the message parsed whole."""
    raw = conn.scalar(
        sa.select(_m.c.raw_mime).where(_m.c.inbox_id == inbox_id, _m.c.id == attachment.message_id)
    )
    if raw is None:
        raise NotFound("message")
    content = parse.attachment_payload(
        bytes(raw), attachment.id, max_parts=max_parts, max_depth=max_depth
    )
    if content is None:
        raise NotFound("attachment")
    return content
