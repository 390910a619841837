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
    send_for_inbox,
)
from dispatch_client._errors import DispatchError
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
    if result.otp is None:
        raise DispatchError("the server reported an OTP match without an OTP")
    return result.otp.code


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
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The code, e.g. "482913".

        Raises:
            WaitTimeoutError: no OTP mail matched within `timeout` (also a TimeoutError);
                it says whether other mail arrived meanwhile.
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        call = _wait_for_otp(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        return self._run_wait(call, options)


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
            **options: Per-call options: max_retries, extra_headers (see WaitOptions).

        Returns:
            The code, e.g. "482913".

        Raises:
            WaitTimeoutError: no OTP mail matched within `timeout` (also a TimeoutError);
                it says whether other mail arrived meanwhile.
            InvalidArgumentError: a negative `timeout`, or both `after` and `since`.
            NotFoundError: no such inbox for this key.
        """
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        call = _wait_for_otp(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        return await self._run_wait(call, options)
