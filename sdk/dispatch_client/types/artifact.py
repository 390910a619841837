"""Artifacts: OTP codes and links extracted from messages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

ArtifactKind = Literal["otp", "link"]


@attrs.frozen(kw_only=True)
class Artifact:
    """A value extracted from a message: an OTP code or a link."""

    id: str
    message_id: str
    kind: str  # "otp" | "link"; str, so a newer server's kinds still decode
    value: str
    is_primary: bool
    received_at: datetime
