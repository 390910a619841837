"""Time and ids: the one place that makes them and parses them back."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

# The form new_id() produces: a lower-case, hyphenated UUID.
ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def is_id(value: str) -> bool:
    """Whether `value` has the form of an id this server generates."""
    return ID_PATTERN.match(value) is not None


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
