"""The workspace: the account that owns agents, inboxes and keys."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Workspace:
    """A workspace: the account that owns agents, inboxes and keys."""

    id: str
    name: str
    plan: str
    status: str
    created_at: datetime
