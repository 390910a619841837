"""Cursors and pages: positions in a listing's (time, id) order, opaque to clients."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, Literal, TypeVar

import attrs

from dispatch_server.core.clock import parse_timestamp
from dispatch_server.core.errors import InvalidCursor
from dispatch_server.core.ids import is_id

T = TypeVar("T")

# One kind per listing: messages and artifacts by received_at, threads by their last
# activity, the rest by created_at.
CursorKind = Literal[
    "message",
    "artifact",
    "inbox",
    "key",
    "sent",
    "suppression",
    "list_entry",
    "thread",
    "domain",
    "draft",
    "memory",
    "webhook_endpoint",
    "webhook_delivery",
]

# The page size, one rule for every listing.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


@attrs.frozen
class Cursor:
    """A position in a listing's (time, id) order.

    The kind travels inside the token, so a cursor from one listing is refused by another."""

    kind: CursorKind
    at: datetime
    id: str  # "" sorts before every id: the position just before `at`

    def encode(self) -> str:
        payload = json.dumps([self.kind, self.at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, kind: CursorKind, *, param: str = "cursor") -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded))
            if not (
                isinstance(payload, list)
                and len(payload) == 3
                and payload[0] == kind
                and all(isinstance(part, str) for part in payload)
            ):
                raise ValueError
            _, at, row_id = payload
            # An id goes into SQL: only the form the server issues (PostgreSQL refuses NUL).
            if row_id and not is_id(row_id):
                raise ValueError
            moment = parse_timestamp(at)
        except (ValueError, RecursionError):  # binascii.Error is a ValueError
            raise InvalidCursor(
                f"{param} is not a {kind} cursor this server issued", param=param
            ) from None
        return cls(kind, moment, row_id)


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing and where the next one starts (None: this is the last)."""

    items: Sequence[T]
    next_cursor: Cursor | None
