"""Time: the one place that reads the clock and parses timestamps from clients."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(raw: str) -> datetime:
    """An ISO 8601 / RFC 3339 timestamp with a UTC offset, as an aware UTC datetime.

    Raises ValueError with a message fit for a client: also for times that cannot be expressed
    in UTC (`0001-01-01T00:00:00+14:00` is before year 1 there)."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise ValueError("the timestamp needs a UTC offset, e.g. 2026-11-24T09:30:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the timestamp is out of range") from None


def from_unix(seconds: int) -> datetime:
    """A Unix time from another system (a block, a Stripe object) as an aware UTC datetime;
    ValueError when it is no representable time (`10**20`)."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{seconds} is no representable Unix time") from None


def rfc3339(moment: datetime) -> str:
    """`moment` as the API writes times: RFC 3339 in UTC with a `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def monotonic() -> float:
    """Seconds on a clock that only goes forward (for durations and rate limits)."""
    return time.monotonic()
