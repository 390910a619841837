"""The otp resource: the latest code in an inbox, and `wait_for_otp`, the headline call."""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

import attrs

from dispatch_client._core import (
    Call,
    Credentials,
    Request,
    WaitState,
    field,
    inbox_path,
    segment,
    send_for_inbox,
)
from dispatch_client._errors import DispatchError, InvalidArgumentError
from dispatch_client._options import RequestOptions, WaitOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client._waits import WaitQuery, wait_until_match
from dispatch_client.types._decode import decode
from dispatch_client.types.message import Folder
from dispatch_client.types.otp import Otp


def _latest(credentials: Credentials, inbox_id: str) -> Call[Otp | None]:
    request = Request(method="GET", path=inbox_path(inbox_id, "otp"))
    otp = field((yield from send_for_inbox(credentials, inbox_id, request)), "otp")
    return None if otp is None else decode(otp, Otp)


def _wait_for_otp(
    credentials: Credentials, waits: WaitState, inbox_id: str, query: WaitQuery, *, timeout: float
) -> Call[str]:
    query = attrs.evolve(query, kind="otp")
    result = yield from wait_until_match(credentials, waits, inbox_id, query, timeout=timeout)
    otp = result.otp
    if otp is None:
        raise DispatchError("the server reported an OTP match without an OTP")
    if otp.lease_id is not None and otp.id is not None:
        waits.leases[(inbox_id, otp.code)] = (otp.id, otp.lease_id)
    return otp.code


def _confirm(
    credentials: Credentials,
    waits: WaitState,
    inbox_id: str,
    code: str | None,
    lease: tuple[str, str] | None,
) -> Call[Otp]:
    if lease is None and code is not None:
        lease = waits.leases.get((inbox_id, code))
    if lease is None:
        raise InvalidArgumentError(
            "no lease of this client for that code: confirm a code that "
            "wait_for_otp(consume=True, lease_seconds=...) returned",
            param="code",
        )
    otp_id, lease_id = lease
    request = Request(
        method="POST",
        path=inbox_path(inbox_id, "otp", segment(otp_id, "otp_id"), "confirm"),
        json={"lease_id": lease_id},
    )
    confirmed = field((yield from send_for_inbox(credentials, inbox_id, request)), "otp")
    if code is not None:
        waits.leases.pop((inbox_id, code), None)
    return decode(confirmed, Otp)


def _lease(otp_id: str | None, lease_id: str | None) -> tuple[str, str] | None:
    if otp_id is None and lease_id is None:
        return None
    if otp_id is None or lease_id is None:
        raise InvalidArgumentError("give otp_id= and lease_id= together", param="lease_id")
    return otp_id, lease_id


class OtpResource(SyncResource):
    """One-time codes: `d.otp.wait_for_otp(inbox.id)`."""

    def latest(self, inbox_id: str, **options: Unpack[RequestOptions]) -> Otp | None:
        """The newest OTP in the inbox (spam excluded), without waiting.

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The code with the message it came in, or None if no message has one.

        Raises:
            NotFoundError: no such inbox for this key.
        """
        return self._run(_latest(self._credentials, inbox_id), options)

    def wait_for_otp(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: datetime | str | None = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
        consume: bool = False,
        lease_seconds: int | None = None,
        **options: Unpack[WaitOptions],
    ) -> str:
        """The code of an OTP mail, waiting on the server until one arrives.

        Which mail: the newest received since `since` (default: the server's lookback, 10
        minutes); the first after the `after` cursor; without either, once an earlier
        wait_for_* call of this client on this inbox returned a message, the first after
        that one (so after "resend code" you get the new code, not the old one again).

        Args:
            inbox_id: The inbox's id.
            timeout: Seconds to wait in all, 0 or more (made of rounds of at most 25 s).
            after: Only the oldest match after this cursor (`WaitResult.cursor`).
            since: Only the newest match received at or after this time (a naive datetime
                is local time). Not with `after`.
            from_: Only messages whose From contains this (case-insensitive).
            subject: Only messages whose Subject contains this (case-insensitive).
            folder: "inbox", "spam", "quarantine" or "all".
            consume: Take the code, atomically: no other consuming wait (another agent
                sharing the inbox) gets it again; of concurrent consuming waits exactly one
                gets each code, the others wait on for the next. Non-consuming reads still
                show it, with `consumed_at` set.
            lease_seconds: With consume, take the code for this many seconds only (1 to
                3600): it goes back to the pool unless `confirm(inbox_id, code)` is called
                in time (a crash, or an answer lost on the way, then loses no code).
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The code, e.g. "482913".

        Raises:
            WaitTimeoutError: no OTP mail matched within `timeout` (also a TimeoutError);
                it says whether other mail arrived meanwhile.
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(
            after=after,
            since=since,
            from_=from_,
            subject=subject,
            folder=folder,
            consume=consume,
            lease_seconds=lease_seconds,
        )
        call = _wait_for_otp(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        return self._run_wait(call, options)

    def confirm(
        self,
        inbox_id: str,
        code: str | None = None,
        *,
        otp_id: str | None = None,
        lease_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Otp:
        """Keep a code leased by `wait_for_otp(consume=True, lease_seconds=...)` for good.

        Args:
            inbox_id: The inbox's id.
            code: The code that wait returned (its lease is remembered by this client).
            otp_id: Instead of `code`: the code's id (`Otp.id`), from another process's
                wait (`messages.wait(..., consume=True, lease_seconds=...)`).
            lease_id: With `otp_id`: that wait's `Otp.lease_id`.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The code, consumed for good.

        Raises:
            InvalidArgumentError: this client holds no lease of that code.
            ConflictError: the lease ended first (`code` "otp_lease_expired"); the code
                went back to the pool.
        """
        return self._run(
            _confirm(self._credentials, self._waits, inbox_id, code, _lease(otp_id, lease_id)),
            options,
        )


class AsyncOtpResource(AsyncResource):
    """One-time codes: `await d.otp.wait_for_otp(inbox.id)`."""

    async def latest(self, inbox_id: str, **options: Unpack[RequestOptions]) -> Otp | None:
        """The newest OTP in the inbox (spam excluded), without waiting.

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The code with the message it came in, or None if no message has one.

        Raises:
            NotFoundError: no such inbox for this key.
        """
        return await self._run(_latest(self._credentials, inbox_id), options)

    async def wait_for_otp(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: datetime | str | None = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
        consume: bool = False,
        lease_seconds: int | None = None,
        **options: Unpack[WaitOptions],
    ) -> str:
        """The code of an OTP mail, waiting on the server until one arrives.

        Which mail: the newest received since `since` (default: the server's lookback, 10
        minutes); the first after the `after` cursor; without either, once an earlier
        wait_for_* call of this client on this inbox returned a message, the first after
        that one (so after "resend code" you get the new code, not the old one again).

        Args:
            inbox_id: The inbox's id.
            timeout: Seconds to wait in all, 0 or more (made of rounds of at most 25 s).
            after: Only the oldest match after this cursor (`WaitResult.cursor`).
            since: Only the newest match received at or after this time (a naive datetime
                is local time). Not with `after`.
            from_: Only messages whose From contains this (case-insensitive).
            subject: Only messages whose Subject contains this (case-insensitive).
            folder: "inbox", "spam", "quarantine" or "all".
            consume: Take the code, atomically: no other consuming wait (another agent
                sharing the inbox) gets it again; of concurrent consuming waits exactly one
                gets each code, the others wait on for the next. Non-consuming reads still
                show it, with `consumed_at` set.
            lease_seconds: With consume, take the code for this many seconds only (1 to
                3600): it goes back to the pool unless `confirm(inbox_id, code)` is called
                in time (a crash, or an answer lost on the way, then loses no code).
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The code, e.g. "482913".

        Raises:
            WaitTimeoutError: no OTP mail matched within `timeout` (also a TimeoutError);
                it says whether other mail arrived meanwhile.
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(
            after=after,
            since=since,
            from_=from_,
            subject=subject,
            folder=folder,
            consume=consume,
            lease_seconds=lease_seconds,
        )
        call = _wait_for_otp(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        return await self._run_wait(call, options)

    async def confirm(
        self,
        inbox_id: str,
        code: str | None = None,
        *,
        otp_id: str | None = None,
        lease_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Otp:
        """Keep a code leased by `wait_for_otp(consume=True, lease_seconds=...)` for good.

        Args:
            inbox_id: The inbox's id.
            code: The code that wait returned (its lease is remembered by this client).
            otp_id: Instead of `code`: the code's id (`Otp.id`), from another process's
                wait (`messages.wait(..., consume=True, lease_seconds=...)`).
            lease_id: With `otp_id`: that wait's `Otp.lease_id`.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The code, consumed for good.

        Raises:
            InvalidArgumentError: this client holds no lease of that code.
            ConflictError: the lease ended first (`code` "otp_lease_expired"); the code
                went back to the pool.
        """
        return await self._run(
            _confirm(self._credentials, self._waits, inbox_id, code, _lease(otp_id, lease_id)),
            options,
        )
