"""Sent mail: what an inbox sent, with its delivery state and events, and the attachments
a send takes."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

import attrs

from dispatch_client.types.message import Attachment

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


def _guess_type(attachment: OutgoingAttachment) -> str:
    guessed, _ = mimetypes.guess_type(attachment.filename, strict=False)
    return guessed or "application/octet-stream"


@attrs.frozen
class OutgoingAttachment:
    """A file to attach to a send or a reply: `OutgoingAttachment("report.pdf", data)`.

    `content` is the file's bytes (the SDK base64-encodes them); `content_type` is guessed
    from the filename when not given, else "application/octet-stream". A plain
    `(filename, content)` tuple does the same.
    """

    filename: str
    content: bytes = attrs.field(repr=lambda content: f"<{len(content)} bytes>")
    content_type: str = attrs.field(default=attrs.Factory(_guess_type, takes_self=True))

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str], content_type: str | None = None
    ) -> OutgoingAttachment:
        """The file at `path`, named by its last component.

        Args:
            path: The file to read.
            content_type: Its MIME type; None: guessed from its name.

        Returns:
            The attachment, with the file's bytes.
        """
        file = Path(path)
        if content_type is None:
            return cls(file.name, file.read_bytes())
        return cls(file.name, file.read_bytes(), content_type)


@attrs.frozen(kw_only=True)
class SentEvent:
    """One step of a sent message: the server's own (`queued`, `sent`, `deferred`,
    `delivered`, `bounced`, `rejected`, `failed`, `suppressed`), or the provider's feedback
    (`delivery`, `bounce`, `complaint`, `reject`, `delivery_delay`, `send`). `source` is
    "dispatch" or the provider ("ses"); `detail` what it said (such as a bounce's type)."""

    type: str
    source: str
    recipients: tuple[str, ...]
    detail: Mapping[str, str] = attrs.field(hash=False)
    occurred_at: datetime


@attrs.frozen(kw_only=True)
class SentMessage:
    """A message an inbox sent, with its latest delivery state (`from_` is the JSON key
    `from`; times are UTC).

    `status` is one of `SendStatus`: "queued" (waiting for its first or next attempt,
    `next_attempt_at`), "sent" (the provider took it), "delivered", "bounced",
    "complained", "rejected" (the provider refused it for good), "failed" (every attempt
    failed; `last_error` says why), "suppressed" (every recipient was suppressed before
    it went) or "blocked" (the send lists came to refuse every recipient before it went).
    It is a `str`, so a newer server's states still decode. `message_id` is its
    Message-ID header (with the angle brackets); `in_reply_to` the id of the received
    message it answers. `events` are its steps, oldest first (the last 50).
    """

    id: str
    inbox_id: str
    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    headers: Mapping[str, str] = attrs.field(hash=False)
    attachments: tuple[Attachment, ...]
    message_id: str
    in_reply_to: str | None
    status: str
    provider: str
    provider_message_id: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    events: tuple[SentEvent, ...]
    thread_id: str | None = None  # its thread (`threads.get()`); None: a memory write
