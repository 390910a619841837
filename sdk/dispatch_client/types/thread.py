"""Threads: an inbox's received and sent mail grouped into conversations."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class ThreadMessage:
    """A message of a thread, without its bodies. `direction` "received": `messages.get()`
    has it whole; "sent": `sent.get()` (a `str`, so a newer server's values still decode).
    `from_` is the JSON key `from`; `at` is when it was received or sent (UTC); `unread`
    is for received mail only; `status` a send's (see SentMessage)."""

    id: str
    direction: str
    from_: str | None
    from_address: str | None
    to: tuple[str, ...]
    subject: str | None
    preview: str | None
    at: datetime
    unread: bool
    status: str | None


@attrs.frozen(kw_only=True)
class ThreadSummary:
    """A conversation as `threads.list()` gives it: its first message's `subject`, who its
    latest messages are from and to (`participants`, the inbox itself left out), how many
    messages it holds and how many received ones are unread, its latest activity and
    message (`latest`, whose start is `preview`)."""

    id: str
    inbox_id: str
    subject: str | None
    participants: tuple[str, ...]
    message_count: int
    unread_count: int
    last_activity_at: datetime
    preview: str | None
    latest: ThreadMessage


@attrs.frozen(kw_only=True)
class Thread(ThreadSummary):
    """A thread with its messages, received and sent, oldest first (the newest 200 of a
    longer one)."""

    messages: tuple[ThreadMessage, ...]
