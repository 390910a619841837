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
    do: an inbox key "read", "wait", "send", "memory", "organize"; an account key "inboxes",
    "inbox_keys", "read", "send", "events", "webhooks", "billing", "suppressions" (plain
    strings, so a newer server's words still decode); a restricted inbox key names the
    part of them it was minted with. `restricted` says whether it was minted with
    restrictions; `allowed_senders` the senders whose mail it may read (None: anyone's);
    `expires_at` when it stops working (None: never).
    """

    kind: Literal["account", "inbox"]
    key_id: str
    workspace_id: str
    agent_id: str
    inbox_id: str | None
    inbox_address: str | None
    permissions: tuple[str, ...]
    restricted: bool = False
    allowed_senders: tuple[str, ...] | None = None
    expires_at: datetime | None = None
