"""Suppressions: the recipients a workspace may no longer send to."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Suppression:
    """A recipient sends are refused for (`RecipientSuppressedError`), after a permanent
    bounce (`reason` "bounce") or a complaint ("complaint"; a `str`, so a newer server's
    reasons still decode). `detail` is what the provider said; `outbound_message_id` the
    sent message it came from."""

    address: str
    reason: str
    detail: str | None
    outbound_message_id: str | None
    created_at: datetime
    updated_at: datetime
