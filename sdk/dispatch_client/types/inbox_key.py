"""Inbox keys: API keys that read one inbox."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class InboxKey:
    """An inbox key as listed: everything but its secret. `revoked_at` is set once revoked."""

    id: str
    kind: str
    inbox_id: str
    label: str | None = None
    created_at: datetime
    revoked_at: datetime | None = None


@attrs.frozen(kw_only=True)
class CreatedInboxKey(InboxKey):
    """A newly created inbox key: an `InboxKey` plus `key`, the secret, shown only this once."""

    key: str = attrs.field(repr=False)
