"""Waiting for mail, shared by messages and otp: rounds, deadlines, the remembered position."""

from __future__ import annotations

from datetime import datetime
from time import monotonic

import attrs

from dispatch_client._constants import WAIT_MIN_ROUND_SECONDS, WAIT_READ_MARGIN
from dispatch_client._core import (
    Call,
    Credentials,
    Request,
    WaitState,
    check_seconds,
    decoded,
    inbox_path,
    rfc3339,
    send_for_inbox,
)
from dispatch_client._errors import BadRequestError, InvalidArgumentError, WaitTimeoutError
from dispatch_client.types.message import Folder
from dispatch_client.types.wait import WaitKind, WaitResult

Since = datetime | str | None


@attrs.frozen(kw_only=True)
class WaitQuery:
    """What to wait for: the query of GET /v1/inboxes/{id}/wait, without its timeout."""

    kind: WaitKind = "message"
    after: str | None = None
    since: Since = None
    from_: str | None = None
    subject: str | None = None
    folder: Folder = "inbox"
    consume: bool = False  # take the code (kind "otp"): no other consuming wait gets it
    lease_seconds: int | None = None  # with consume: back to the pool unless confirmed

    def __attrs_post_init__(self) -> None:
        if self.after is not None and self.since is not None:
            raise InvalidArgumentError("give after= or since=, not both", param="since")
        if self.lease_seconds is not None:
            lease = self.lease_seconds
            if not self.consume:
                raise InvalidArgumentError(
                    "lease_seconds= takes consume=True", param="lease_seconds"
                )
            if isinstance(lease, bool) or not isinstance(lease, int) or not 1 <= lease <= 3600:
                raise InvalidArgumentError(
                    f"lease_seconds must be an integer from 1 to 3600, got {lease!r}",
                    param="lease_seconds",
                )

    @property
    def filters(self) -> dict[str, str]:
        """The content filters given, by parameter name."""
        return {
            name: value
            for name, value in (("from_", self.from_), ("subject", self.subject))
            if value
        }

    def params(self, timeout: float) -> dict[str, str | float]:
        params: dict[str, str | float] = {
            "kind": self.kind,
            "folder": self.folder,
            "timeout": round(max(timeout, 0.0), 3),
        }
        if self.after is not None:
            params["after"] = self.after
        if self.since is not None:
            params["since"] = rfc3339(self.since)
        if self.from_:
            params["from"] = self.from_
        if self.subject:
            params["subject"] = self.subject
        if self.consume:
            params["consume"] = "true"
            if self.lease_seconds is not None:
                params["lease_seconds"] = self.lease_seconds
        return params


def wait_once(
    credentials: Credentials,
    inbox_id: str,
    query: WaitQuery,
    *,
    timeout: float,
    deadline: float | None = None,
) -> Call[WaitResult]:
    """One server-side wait round of up to `timeout` seconds (the server may cap it)."""
    timeout = check_seconds(timeout, "timeout", allow_zero=True)
    request = Request(
        method="GET",
        path=inbox_path(inbox_id, "wait"),
        params=query.params(timeout),
        read_timeout=timeout + WAIT_READ_MARGIN,
        long_poll=True,
        deadline=deadline,
    )
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), WaitResult)


def wait_until_match(
    credentials: Credentials,
    waits: WaitState,
    inbox_id: str,
    query: WaitQuery,
    *,
    timeout: float,
) -> Call[WaitResult]:
    """Server-side waits, round after round, until a match or `timeout` seconds have passed.

    Without `after` or `since`, only messages after the last one a wait_for_* call of this
    client returned for this inbox count; a match becomes that position.
    """
    timeout = check_seconds(timeout, "timeout", allow_zero=True)
    # A consuming wait needs no remembered position: a code it took is not given again.
    remembered = (
        not query.consume
        and query.after is None
        and query.since is None
        and inbox_id in waits.cursors
    )
    if remembered:
        query = attrs.evolve(query, after=waits.cursors[inbox_id])
    deadline = monotonic() + timeout
    unmatched = 0

    def timed_out() -> WaitTimeoutError:
        return WaitTimeoutError(
            _no_match(query, inbox_id, timeout, remembered, unmatched),
            inbox_id=inbox_id,
            timeout=timeout,
            filters=query.filters,
            unmatched_count=unmatched,
        )

    while True:
        round_seconds = min(max(deadline - monotonic(), 0.0), waits.round_seconds)
        try:
            result = yield from wait_once(
                credentials, inbox_id, query, timeout=round_seconds, deadline=deadline
            )
        except BadRequestError as error:
            about_timeout = error.param == "timeout" or "timeout" in error.message
            if not about_timeout or round_seconds <= WAIT_MIN_ROUND_SECONDS:
                raise
            waits.round_seconds = max(WAIT_MIN_ROUND_SECONDS, round_seconds / 2)
            continue
        if result.matched:
            if not query.consume:
                waits.cursors[inbox_id] = result.cursor
            return result
        # Each round counts over the wait's whole window (after its cursor, or since its
        # time), which every round of this call shares: the latest count covers the earlier
        # ones, so counts are not added up.
        unmatched = max(unmatched, result.unmatched_count)
        if deadline - monotonic() <= 0:
            raise timed_out()


_WHAT = {"otp": "message with an OTP", "link": "message with a link"}
_WHERE = {
    "inbox": "inbox {}",
    "spam": "the spam folder of inbox {}",
    "quarantine": "the quarantine folder of inbox {}",
    "all": "inbox {} (any folder)",
}
_FILTER_NAMES = {"from_": "from"}


def _no_match(
    query: WaitQuery, inbox_id: str, timeout: float, remembered: bool, unmatched: int
) -> str:
    where = _WHERE.get(query.folder, "inbox {}").format(inbox_id)
    text = f"no {_WHAT.get(query.kind, 'matching message')} arrived in {where} within {timeout:g} s"
    filters = query.filters
    if filters:
        described = (
            f"{_FILTER_NAMES.get(name, name)} contains {value!r}" for name, value in filters.items()
        )
        text += f" (filters: {', '.join(described)})"
    if remembered:
        text += " after the one this client's previous wait returned (pass since= to look back)"
    if filters or query.kind != "message":  # otherwise every message matches
        if unmatched == 0:
            text += "; no message arrived"
        else:
            noun = "message" if unmatched == 1 else "messages"
            text += f"; {unmatched} {noun} arrived that did not match"
    return text
