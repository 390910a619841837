"""Inbox keys: API keys that read one inbox."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class InboxKey:
    """An inbox key as listed: everything but its secret. `revoked_at` is set once revoked.

    A restricted key's restrictions (each None when it has none): `expires_at`, when it
    stops working; `permissions`, the part of "read", "wait", "send", "memory", "organize" it keeps;
    `allowed_senders`, the senders whose mail it may read (`*@github.com`,
    `noreply@x.com`, `*.example.com`)."""

    id: str
    kind: str
    inbox_id: str
    label: str | None = None
    created_at: datetime
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    permissions: tuple[str, ...] | None = None
    allowed_senders: tuple[str, ...] | None = None

    @property
    def restricted(self) -> bool:
        """Whether the key was minted with any restriction."""
        restrictions = (self.expires_at, self.permissions, self.allowed_senders)
        return any(r is not None for r in restrictions)


@attrs.frozen(kw_only=True)
class CreatedInboxKey(InboxKey):
    """A newly created inbox key: an `InboxKey` plus `key`, the secret, shown only this once."""

    key: str = attrs.field(repr=False)
