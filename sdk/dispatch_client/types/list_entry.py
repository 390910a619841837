"""Allow and block lists: entries for a workspace or one of its inboxes."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class ListEntry:
    """One allow or block entry. `inbox_id` None: it applies to every inbox of the
    workspace. `direction` "receive" matches the sender of incoming mail, "send" each
    recipient of a send; `action` "allow" or "block" (both `str`, so a newer server's
    values still decode). `pattern` is an address (`a@x.com`), a domain (`x.com`, not its
    subdomains) or `*.x.com` (its subdomains), lowercased, its domain in punycode.

    Block wins over allow; once any allow entry applies to an inbox and direction, every
    address no allow entry matches is refused."""

    id: str
    inbox_id: str | None
    direction: str
    action: str
    pattern: str
    created_at: datetime
