"""The OTP: a one-time code found in a message."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_client.extract.codes import CodeKind


@attrs.frozen(kw_only=True)
class Otp:
    """A one-time code and the message it came in (`from_` is the JSON key `from`). `kind`
    says what the code is made of; a code with letters is case-sensitive, type it as given
    (None from a server older than the field).

    Codes used once: `id` is the code's own id; `consumed_at` when a consuming wait took it
    (None: no wait holds it); `lease_expires_at`, while leased, when it goes back to the
    pool unless confirmed; `lease_id`, only in the answer of the wait that leased it, what
    confirms it (`d.otp.confirm`)."""

    code: str
    message_id: str
    from_: str | None
    subject: str | None
    received_at: datetime
    kind: CodeKind | None = None
    id: str | None = None
    consumed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    lease_id: str | None = attrs.field(default=None, repr=False)
