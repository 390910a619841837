"""The OTP: a one-time code found in a message."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_client.extract.codes import CodeKind


@attrs.frozen(kw_only=True)
class Otp:
    """A one-time code and the message it came in (`from_` is the JSON key `from`). `kind`
    says what the code is made of; a code with letters is case-sensitive, type it as given
    (None from a server older than the field)."""

    code: str
    message_id: str
    from_: str | None
    subject: str | None
    received_at: datetime
    kind: CodeKind | None = None
