"""What `agent.signup()` returns."""

from __future__ import annotations

import attrs

from dispatch_client.types.agent import Agent
from dispatch_client.types.inbox import Inbox
from dispatch_client.types.workspace import Workspace


@attrs.frozen(kw_only=True)
class Signup:
    """What `agent.signup()` returns. Keep the keys: they are shown only once."""

    workspace: Workspace
    agent: Agent
    inbox: Inbox
    account_key: str = attrs.field(repr=False)
    inbox_key: str = attrs.field(repr=False)
