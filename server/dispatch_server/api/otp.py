"""The newest OTP of an inbox."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_client.extract.codes import CodeKind, code_kind
from dispatch_server.api.artifacts import retention_cutoff
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.domain import messages
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field


@attrs.frozen(kw_only=True)
class Otp:
    """An OTP code with the sender, subject and time of the message it came in."""

    code: str = field(description="as written in the mail: a code with letters is case-sensitive")
    kind: CodeKind = field(description="what the code is made of: digits, letters, or both")
    message_id: str
    from_: str | None = field(name="from", description="the From header")
    subject: str | None
    received_at: datetime

    @classmethod
    def of(cls, otp: messages.Otp) -> Otp:
        return cls(
            code=otp.code,
            kind=code_kind(otp.code),
            message_id=otp.message_id,
            from_=otp.from_header,
            subject=otp.subject,
            received_at=otp.received_at,
        )


@attrs.frozen(kw_only=True)
class LatestOtp:
    otp: Otp | None = field(description="null when the inbox folder has no OTP")


async def latest_otp(call: Call[None]) -> LatestOtp:
    otp = await call.services.db.run_read(
        messages.latest_otp,
        call.path("inbox_id"),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return LatestOtp(otp=Otp.of(otp) if otp is not None else None)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/otp",
        handler=latest_otp,
        summary="The newest OTP",
        scope=Scope.INBOX,
        permission="read",
        response=LatestOtp,
    )
]
