"""Reading stored mail: pages, single messages, artifacts, the latest OTP, wait matches."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server import schema as t
from dispatch_server.clock import is_id, parse_timestamp, utcnow
from dispatch_server.errors import bad_request, not_found

# The values each choice parameter takes; the routes check them (http.query_choice).
FOLDERS = ("inbox", "spam", "all")
ARTIFACT_KINDS = ("otp", "link")
WAIT_KINDS = ("message", "otp", "link")

MESSAGE_COLUMNS = [c for c in t.messages.c if c.name != "raw_mime"] + [t.message_security.c.folder]


CursorKind = Literal["message", "artifact", "inbox", "key"]


@attrs.frozen
class Cursor:
    """A position in a listing's (time, id) order: messages and artifacts by received_at,
    inboxes and keys by created_at.

    The kind travels inside the token, so a cursor from one listing is refused by another."""

    kind: CursorKind
    at: datetime
    id: str  # "" sorts before every id: the position just before `at`

    def encode(self) -> str:
        payload = json.dumps([self.kind, self.at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, kind: CursorKind) -> Cursor:
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
            _, received_at, row_id = payload
            # An id goes into SQL: only the form the server issues (PostgreSQL refuses NUL).
            if row_id and not is_id(row_id):
                raise ValueError
            moment = parse_timestamp(received_at)
        except (ValueError, RecursionError):  # binascii.Error is a ValueError
            raise bad_request(
                f"cursor is not a {kind} cursor this server issued", "invalid_cursor"
            ) from None
        return cls(kind, moment, row_id)

    @classmethod
    def of(cls, kind: CursorKind, row: Any) -> Cursor:
        return cls(kind, row.received_at, row.id)

    def bound(self) -> sa.Tuple:
        """This position as a SQL (time, id) tuple to compare row positions with."""
        return sa.tuple_(sa.literal(self.at, t.UtcDateTime()), sa.literal(self.id))


def retention_cutoff(retention_days: int) -> datetime:
    return utcnow() - timedelta(days=retention_days)


def _folder_clause(folder: str) -> sa.ColumnElement[bool]:
    if folder == "all":
        return sa.true()
    return t.message_security.c.folder == folder


def _messages_of(inbox_id: str, cutoff: datetime) -> sa.Select[Any]:
    return (
        sa.select(*MESSAGE_COLUMNS)
        .join(t.message_security, t.message_security.c.message_id == t.messages.c.id)
        .where(t.messages.c.inbox_id == inbox_id, t.messages.c.received_at >= cutoff)
    )


def _position(table: sa.Table, time_column: str = "received_at") -> sa.Tuple:
    return sa.tuple_(table.c[time_column], table.c.id)


def page(
    conn: sa.Connection,
    query: sa.Select[Any],
    table: sa.Table,
    kind: CursorKind,
    *,
    limit: int,
    cursor: Cursor | None,
    time_column: str = "received_at",
    newest_first: bool = True,
) -> tuple[list[Any], Cursor | None]:
    """One page in (time, id) order, newest or oldest first, and the cursor of the next page.
    Fetches one row more than asked for, to know whether there is a next page."""
    position = _position(table, time_column)
    if cursor is not None:
        query = query.where(
            position < cursor.bound() if newest_first else position > cursor.bound()
        )
    order = (table.c[time_column], table.c.id)
    query = query.order_by(*(c.desc() for c in order) if newest_first else order).limit(limit + 1)
    rows = list(conn.execute(query))
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        return rows, Cursor(kind, getattr(last, time_column), last.id)
    return rows, None


def list_messages(
    conn: sa.Connection,
    inbox_id: str,
    *,
    folder: str,
    limit: int,
    cursor: Cursor | None,
    cutoff: datetime,
) -> tuple[list[Any], Cursor | None]:
    query = _messages_of(inbox_id, cutoff).where(_folder_clause(folder))
    return page(conn, query, t.messages, "message", limit=limit, cursor=cursor)


def get_message(conn: sa.Connection, inbox_id: str, message_id: str, *, cutoff: datetime) -> Any:
    row = (
        conn.execute(_messages_of(inbox_id, cutoff).where(t.messages.c.id == message_id))
    ).first()
    if row is None:
        raise not_found("message")
    return row


def get_raw(conn: sa.Connection, inbox_id: str, message_id: str, *, cutoff: datetime) -> bytes:
    raw = conn.scalar(
        sa.select(t.messages.c.raw_mime).where(
            t.messages.c.inbox_id == inbox_id,
            t.messages.c.id == message_id,
            t.messages.c.received_at >= cutoff,
        )
    )
    if raw is None:
        raise not_found("message")
    return bytes(raw)


def get_message_with_artifacts(
    conn: sa.Connection, inbox_id: str, message_id: str, *, cutoff: datetime
) -> tuple[Any, list[Any]]:
    row = get_message(conn, inbox_id, message_id, cutoff=cutoff)
    return row, artifacts_of_message(conn, message_id)


def artifacts_of_message(conn: sa.Connection, message_id: str) -> list[Any]:
    rows = conn.execute(
        sa.select(t.artifacts)
        .where(t.artifacts.c.message_id == message_id)
        .order_by(t.artifacts.c.kind.desc(), t.artifacts.c.position)
    )
    return list(rows)


def list_artifacts(
    conn: sa.Connection,
    inbox_id: str,
    *,
    kind: str | None,
    limit: int,
    cursor: Cursor | None,
    cutoff: datetime,
) -> tuple[list[Any], Cursor | None]:
    a = t.artifacts
    query = sa.select(a).where(
        a.c.inbox_id == inbox_id, a.c.folder == "inbox", a.c.received_at >= cutoff
    )
    if kind is not None:
        query = query.where(a.c.kind == kind)
    return page(conn, query, a, "artifact", limit=limit, cursor=cursor)


def latest_otp(conn: sa.Connection, inbox_id: str, *, cutoff: datetime) -> Any:
    a, m = t.artifacts, t.messages
    return (
        conn.execute(
            sa.select(a.c.value, a.c.message_id, a.c.received_at, m.c.from_header, m.c.subject)
            .join(m, m.c.id == a.c.message_id)
            .where(
                a.c.inbox_id == inbox_id,
                a.c.kind == "otp",
                a.c.is_primary.is_(True),
                a.c.folder == "inbox",
                a.c.received_at >= cutoff,
            )
            .order_by(a.c.received_at.desc(), a.c.id.desc())
            .limit(1)
        )
    ).first()


@attrs.frozen
class WaitFilter:
    kind: str  # message | otp | link
    folder: str
    after: Cursor | None
    since: datetime
    from_contains: str | None
    subject_contains: str | None


def _wait_window(inbox_id: str, wait: WaitFilter, cutoff: datetime) -> sa.Select[Any]:
    """The messages a wait looks at: its folder, after its cursor or since its time."""
    query = _messages_of(inbox_id, cutoff).where(_folder_clause(wait.folder))
    if wait.after is not None:
        return query.where(_position(t.messages) > wait.after.bound())
    return query.where(t.messages.c.received_at >= wait.since)


def _wait_matches(wait: WaitFilter) -> sa.ColumnElement[bool]:
    """Whether a message in the window passes the wait's filters."""
    conditions: list[sa.ColumnElement[bool]] = []
    if wait.from_contains:
        from_header = sa.func.coalesce(t.messages.c.from_header, "")
        conditions.append(from_header.icontains(wait.from_contains, autoescape=True))
    if wait.subject_contains:
        subject = sa.func.coalesce(t.messages.c.subject, "")
        conditions.append(subject.icontains(wait.subject_contains, autoescape=True))
    if wait.kind in ("otp", "link"):
        conditions.append(
            sa.exists().where(
                t.artifacts.c.message_id == t.messages.c.id, t.artifacts.c.kind == wait.kind
            )
        )
    return sa.and_(sa.true(), *conditions)


def find_wait_match(
    conn: sa.Connection, inbox_id: str, wait: WaitFilter, *, cutoff: datetime
) -> tuple[Any, list[Any]] | None:
    """The oldest match after `wait.after`, else the newest match since `wait.since`."""
    query = _wait_window(inbox_id, wait, cutoff).where(_wait_matches(wait))
    if wait.after is not None:
        query = query.order_by(t.messages.c.received_at, t.messages.c.id)
    else:
        query = query.order_by(t.messages.c.received_at.desc(), t.messages.c.id.desc())
    row = conn.execute(query.limit(1)).first()
    return None if row is None else (row, artifacts_of_message(conn, row.id))


def count_unmatched(
    conn: sa.Connection, inbox_id: str, wait: WaitFilter, *, cutoff: datetime
) -> int:
    """How many messages in the wait's window do not pass its filters: what a waiter that timed
    out needs to know to tell "nothing came" from "something came, but not what I asked for"."""
    window = _wait_window(inbox_id, wait, cutoff).where(sa.not_(_wait_matches(wait)))
    return conn.scalar(sa.select(sa.func.count()).select_from(window.subquery())) or 0
