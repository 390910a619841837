"""Ids: the one place that makes them and recognises them."""

from __future__ import annotations

import re
import uuid

# The form new_id() produces: a lower-case, hyphenated UUID.
ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_id() -> str:
    return str(uuid.uuid4())


def is_id(value: str) -> bool:
    """Whether `value` has the form of an id this server generates."""
    return ID_PATTERN.match(value) is not None
