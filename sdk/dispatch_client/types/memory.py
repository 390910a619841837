"""Memory: an inbox's small key/value notes, kept as mail it sends itself."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class MemoryEntry:
    """One value written for a key: `written_at` (UTC) is when, `sent_id` the sent message
    that wrote it (`sent.get(inbox_id, entry.sent_id)`)."""

    key: str
    value: str
    written_at: datetime
    sent_id: str


@attrs.frozen(kw_only=True)
class MemoryKey:
    """A key of an inbox's memory, and when it was last written (UTC)."""

    key: str
    updated_at: datetime
