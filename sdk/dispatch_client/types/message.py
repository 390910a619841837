"""Messages: the mail an inbox received, as listings summarise it and as `get` gives it whole
(bodies, attachments and artifacts)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from dispatch_client.types.artifact import Artifact

Folder = Literal["inbox", "spam", "memory", "all"]


@attrs.frozen(kw_only=True)
class Attachment:
    """An attachment's description (its content stays in the raw message)."""

    filename: str | None
    content_type: str
    size_bytes: int


@attrs.frozen(kw_only=True)
class MessageSummary:
    """A message as `messages.list()` gives it: no bodies, so a page stays small whatever
    the mail. `messages.get(inbox_id, summary.id)` has the whole message.

    `from_` is the JSON key `from`; times are UTC. The server cuts `from_` and `subject` to
    998 characters and `preview` to 200 (a cut text ends with "…"), and gives the first 10
    addresses of `to`.
    """

    id: str
    inbox_id: str
    from_: str | None
    from_address: str | None
    to: tuple[str, ...]
    subject: str | None
    preview: str | None  # the start of the text (or of the HTML's visible text)
    folder: str
    size_bytes: int
    received_at: datetime
    attachment_count: int
    has_otp: bool  # `get()` would give it an `otp`
    has_link: bool  # `get()` would give it `links`


@attrs.frozen(kw_only=True)
class Message:
    """A received message, whole: `messages.get()` and the waits give it, with its artifacts.
    `from_` is the JSON key `from`; times are UTC."""

    id: str
    inbox_id: str
    from_: str | None
    from_address: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    subject: str | None
    text: str | None
    html: str | None
    message_id_header: str | None = None
    folder: str
    size_bytes: int
    received_at: datetime
    attachments: tuple[Attachment, ...] = ()
    artifacts: tuple[Artifact, ...]

    @property
    def otp(self) -> str | None:
        """The primary OTP code found in this message, or None if it has none."""
        return next((a.value for a in self.artifacts if a.kind == "otp" and a.is_primary), None)

    @property
    def links(self) -> tuple[str, ...]:
        """The links found in this message, in order."""
        return tuple(a.value for a in self.artifacts if a.kind == "link")

    @property
    def primary_link(self) -> str | None:
        """The message's call to action (a sign-in or verification link), or None.

        Only a link the extractor marked primary: a message whose only links are, say,
        unsubscribe or social links has none (they are in `links`)."""
        return next((a.value for a in self.artifacts if a.kind == "link" and a.is_primary), None)
