"""The agent: who acts in a workspace."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Agent:
    """An agent of a workspace, created by `agent.signup()`."""

    id: str
    workspace_id: str
    name: str
    created_at: datetime
