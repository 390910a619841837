"""The caller of a request (a principal) and the scopes routes ask for."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

import attrs

KeyKind = Literal["account", "inbox"]


class Scope(enum.Enum):
    """What a route needs from the caller's key."""

    ACCOUNT = "account"  # workspace-wide actions: an account key
    INBOX = "inbox"  # actions on the inbox in the path: that inbox's key
    INBOX_OR_ACCOUNT = "inbox_or_account"  # reading an inbox itself: either
    # Any valid key, and no inbox in the path: the route itself checks what the key may do
    # (sending mail: an inbox key acts for its inbox, an account key names one in the body).
    ANY_KEY = "any_key"


@attrs.frozen
class Principal:
    """An authenticated API key: what it is and where it belongs."""

    key_id: str
    kind: KeyKind
    workspace_id: str
    agent_id: str
    inbox_id: str | None
    # A restricted inbox key's restrictions (see auth.policy); None: not restricted.
    permissions: tuple[str, ...] | None = None  # the words of its kind it keeps
    allowed_senders: tuple[str, ...] | None = None  # whose mail it may read
    expires_at: datetime | None = None

    @property
    def restricted(self) -> bool:
        """Minted with restrictions: some permissions, some senders, or an expiry."""
        return (
            self.permissions is not None
            or self.allowed_senders is not None
            or self.expires_at is not None
        )
