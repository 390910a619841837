"""Messages: the mail an inbox received, with its attachments and artifacts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from dispatch_client._errors import DispatchError
from dispatch_client.types.artifact import Artifact

Folder = Literal["inbox", "spam", "all"]


@attrs.frozen(kw_only=True)
class Attachment:
    """An attachment's description (its content stays in the raw message)."""

    filename: str | None
    content_type: str
    size_bytes: int


@attrs.frozen(kw_only=True)
class Message:
    """A received message. `from_` is the JSON key `from`; times are UTC."""

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
    # None: not loaded. Lists (messages.list) leave artifacts out; messages.get and the
    # waits include them.
    artifacts: tuple[Artifact, ...] | None = None

    @property
    def otp(self) -> str | None:
        """The primary OTP code found in this message, or None if it has none."""
        return next(
            (a.value for a in self._artifacts("otp") if a.kind == "otp" and a.is_primary), None
        )

    @property
    def links(self) -> tuple[str, ...]:
        """The links found in this message, in order."""
        return tuple(a.value for a in self._artifacts("links") if a.kind == "link")

    @property
    def primary_link(self) -> str | None:
        """The message's main link (a sign-in or verification link), or None."""
        links = [a for a in self._artifacts("primary_link") if a.kind == "link"]
        primary = next((a for a in links if a.is_primary), links[0] if links else None)
        return None if primary is None else primary.value

    def _artifacts(self, wanted: str) -> tuple[Artifact, ...]:
        if self.artifacts is None:
            raise DispatchError(
                f"message {self.id} has no artifacts loaded, so .{wanted} is unknown: messages "
                "from messages.list() leave them out; use "
                "messages.get(inbox_id, message.id), which includes them"
            )
        return self.artifacts
