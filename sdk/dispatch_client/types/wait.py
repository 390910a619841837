"""The answer to one server-side wait round."""

from __future__ import annotations

from typing import Literal

import attrs

from dispatch_client.types.artifact import Artifact
from dispatch_client.types.message import Message
from dispatch_client.types.otp import Otp

WaitKind = Literal["message", "otp", "link"]


@attrs.frozen(kw_only=True)
class WaitResult:
    """One server-side wait round. `matched` is False when it timed out.

    `cursor` is where the round ended: pass it as `after=` to wait for the next message.
    `unmatched_count` is, on an unmatched round, how many messages in the wait's window
    (after its cursor, or since its time) did not match the filters; 0 on a match, and from
    a server that does not count them.
    """

    matched: bool
    message: Message | None
    otp: Otp | None
    link: Artifact | None
    cursor: str
    unmatched_count: int = 0
