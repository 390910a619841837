"""Drafts: messages an inbox is writing, saved before they are sent."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Draft:
    """A message the inbox is writing, any field still missing until it is sent.
    `in_reply_to` is the id of the received message it answers; `version` is 1 when
    created and one more at each update (pass it to `drafts.update()` to refuse a stale
    write)."""

    id: str
    inbox_id: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    in_reply_to: str | None
    version: int
    created_at: datetime
    updated_at: datetime
