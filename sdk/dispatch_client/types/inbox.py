"""The inbox: an email address that receives mail."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Inbox:
    """An inbox: `address` receives mail, `id` names it in every inbox call."""

    id: str
    workspace_id: str
    address: str
    display_name: str | None = None
    created_at: datetime
