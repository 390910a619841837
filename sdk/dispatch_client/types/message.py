"""Messages: the mail an inbox received, as listings summarise it and as `get` gives it whole
(bodies, attachments and artifacts)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from dispatch_client.types.artifact import Artifact

# A listing's folder: a folder's mail out of the trash, "trash" (the trashed mail of every
# folder) or "all" (everything).
Folder = Literal["inbox", "spam", "quarantine", "memory", "all", "trash"]


@attrs.frozen(kw_only=True)
class Attachment:
    """An attachment's description (its content stays in the raw message)."""

    filename: str | None
    content_type: str
    size_bytes: int


@attrs.frozen(kw_only=True)
class SpfResult:
    """SPF of the message: `result` is an RFC 8601 word (`pass`, `fail`, `softfail`,
    `neutral`, `none`, `temperror`, `permerror`); `domain` the one whose record was checked
    (the envelope sender's, else the HELO name's)."""

    result: str
    why: str | None = None
    domain: str | None = None


@attrs.frozen(kw_only=True)
class DkimResult:
    """DKIM of the message (`pass`, `fail`, `policy`, `neutral`, `none`, `temperror`,
    `permerror`); `domain` is the `d=` of the signature that decided."""

    result: str
    why: str | None = None
    domain: str | None = None


@attrs.frozen(kw_only=True)
class DmarcResult:
    """DMARC of the message (`pass`, `fail`, `none`, `temperror`, `permerror`); `domain` is
    the From domain, `policy` what its DMARC record asks for failing mail (`none`,
    `quarantine`, `reject`)."""

    result: str
    why: str | None = None
    domain: str | None = None
    policy: str | None = None


@attrs.frozen(kw_only=True)
class MessageAuthentication:
    """How a message was authenticated and why it is in its folder. A check that was not
    made is None; `checked_by` is `dispatch` (the server's SMTP door), `ses` (Amazon SES)
    or `webhook` (the dev webhook, which checks nothing)."""

    checked_by: str | None = None
    spf: SpfResult | None = None
    dkim: DkimResult | None = None
    dmarc: DmarcResult | None = None
    spam: str | None = None  # the provider's spam verdict: pass, fail, gray, processing_failed
    virus: str | None = None  # the same for viruses; `fail` puts the message in quarantine
    folder_reason: str | None = None  # why the message is not in the inbox


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
    thread_id: str | None = None  # its thread (`threads.get()`); None: not threaded
    # Its state (docs/labels.md); the defaults are what a server older than labels means.
    unread: bool = True
    read_at: datetime | None = None
    trashed_at: datetime | None = None  # None: not in the trash
    labels: tuple[str, ...] = ()  # its user labels


@attrs.frozen(kw_only=True)
class Label:
    """A label of an inbox, as `messages.labels()` counts it over the mail the key may read:
    `kind` "system" (`inbox` and `spam`, their folder's mail out of the trash; `trash`) or
    "user" (a user label, counting mail out of the trash)."""

    name: str
    kind: str
    message_count: int
    unread_count: int


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
    # None from a server older than these checks.
    authentication: MessageAuthentication | None = None
    thread_id: str | None = None  # its thread (`threads.get()`); None: not threaded
    unread: bool = True
    read_at: datetime | None = None
    trashed_at: datetime | None = None  # None: not in the trash
    labels: tuple[str, ...] = ()  # its user labels

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
