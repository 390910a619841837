"""The OTP: a one-time code found in a message."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Otp:
    """A one-time code and the message it came in (`from_` is the JSON key `from`)."""

    code: str
    message_id: str
    from_: str | None
    subject: str | None
    received_at: datetime
