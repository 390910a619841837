"""What an API key is: the answer of `GET /v1/auth/me`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs


@attrs.frozen(kw_only=True)
class KeyInfo:
    """The key a client presents, as the server sees it (`d.auth.me()`).

    `kind` is "account" (the whole workspace) or "inbox" (one inbox: `inbox_id`, at
    `inbox_address`; both None for an account key). `permissions` names what the key may
    do: an inbox key "read", "wait", "send", "memory"; an account key "inboxes",
    "inbox_keys", "read", "send", "events", "webhooks", "billing", "suppressions" (plain
    strings, so a newer server's words still decode). `expires_at` is None: keys do not
    expire yet.
    """

    kind: Literal["account", "inbox"]
    key_id: str
    workspace_id: str
    agent_id: str
    inbox_id: str | None
    inbox_address: str | None
    permissions: tuple[str, ...]
    expires_at: datetime | None
