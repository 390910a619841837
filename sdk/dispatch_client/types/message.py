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
        """The message's call to action (a sign-in or verification link), or None.

        Only a link the extractor marked primary: a message whose only links are, say,
        unsubscribe or social links has none (they are in `links`)."""
        artifacts = self._artifacts("primary_link")
        return next((a.value for a in artifacts if a.kind == "link" and a.is_primary), None)

    def _artifacts(self, wanted: str) -> tuple[Artifact, ...]:
        if self.artifacts is None:
            raise DispatchError(
                f"message {self.id} has no artifacts loaded, so .{wanted} is unknown: messages "
                "from messages.list() leave them out; use "
                "messages.get(inbox_id, message.id), which includes them"
            )
        return self.artifacts
