"""The newest OTP of an inbox, and confirming a leased one (codes used once)."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_client.extract.codes import CodeKind, code_kind
from dispatch_server.api.artifacts import retention_cutoff
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import NotFound
from dispatch_server.domain import messages, waits
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
    id: str | None = field(
        default=None, description="the code's id, to confirm a lease (`…/otp/{id}/confirm`)"
    )
    consumed_at: datetime | None = field(
        default=None,
        description="when a consuming wait took the code (`consume=true`); null: no wait "
        "holds it (never taken, or its lease ended unconfirmed)",
    )
    lease_expires_at: datetime | None = field(
        default=None,
        description="while leased: when the code goes back to the pool unless confirmed; "
        "null: not leased (or confirmed)",
    )
    lease_id: str | None = field(
        default=None,
        description="in the answer of the consuming wait that leased the code, and only "
        "there: what confirms it",
    )

    @classmethod
    def of(cls, otp: messages.Otp) -> Otp:
        consumed = otp.consumed(utcnow())
        return cls(
            code=otp.code,
            kind=code_kind(otp.code),
            message_id=otp.message_id,
            from_=otp.from_header,
            subject=otp.subject,
            received_at=otp.received_at,
            id=otp.id,
            consumed_at=otp.consumed_at if consumed else None,
            lease_expires_at=otp.lease_expires_at if consumed else None,
            lease_id=otp.lease_id,
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


@attrs.frozen(kw_only=True)
class ConfirmOtp:
    lease_id: str = field(maxLength=64, description="the `lease_id` of the consuming wait's OTP")


@attrs.frozen(kw_only=True)
class ConfirmedOtp:
    otp: Otp = field(description="the code, consumed for good")


async def confirm_otp(call: Call[ConfirmOtp]) -> ConfirmedOtp:
    inbox_id = call.path("inbox_id")
    message_id = await call.services.db.run_write(
        waits.confirm_otp, inbox_id, call.path("otp_id"), call.body.lease_id, now=utcnow()
    )
    found = await call.services.db.run_read(
        messages.get_message,
        inbox_id,
        message_id,
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    otp = found.otp
    if otp is None or otp.id != call.path("otp_id"):
        raise NotFound("otp")
    return ConfirmedOtp(otp=Otp.of(otp))


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/otp",
        handler=latest_otp,
        summary="The newest OTP",
        scope=Scope.INBOX,
        permission="read",
        response=LatestOtp,
    ),
    Endpoint(
        method="POST",
        path="/v1/inboxes/{inbox_id}/otp/{otp_id}/confirm",
        handler=confirm_otp,
        summary="Keep a leased OTP for good",
        description="A code taken by a consuming wait with `lease_seconds` goes back to the "
        "pool when its lease ends, unless confirmed here first (with the wait's `lease_id`). "
        "Confirming again changes nothing; after the lease ended: `409 otp_lease_expired`.",
        scope=Scope.INBOX,
        permission="wait",
        body=ConfirmOtp,
        response=ConfirmedOtp,
    ),
]
