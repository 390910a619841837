"""What a server-side wait looks for: the filter, the match, and what arrived unmatched."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.auth.api_keys import require_active
from dispatch_server.core.pagination import Cursor
from dispatch_server.db import tables as t
from dispatch_server.db.paging import after as after_cursor
from dispatch_server.domain.messages import (
    FolderFilter,
    Message,
    MessageWithArtifacts,
    folder_clause,
    messages_of,
    with_artifacts,
)

if TYPE_CHECKING:
    from dispatch_server.services import Services

WaitKind = Literal["message", "otp", "link"]
WAIT_KINDS: tuple[WaitKind, ...] = ("message", "otp", "link")


@attrs.frozen(kw_only=True)
class WaitFilter:
    kind: WaitKind
    folder: FolderFilter
    after: Cursor | None  # the oldest match after this position
    since: datetime  # without `after`: the newest match received at or after this time
    from_contains: str | None
    subject_contains: str | None

    def resume_cursor(self) -> Cursor:
        """Where the next wait should start when this one matched nothing."""
        return self.after or Cursor("message", self.since, "")


def _window(inbox_id: str, wait: WaitFilter, cutoff: datetime) -> sa.Select[Any]:
    """The messages a wait looks at: its folder, after its cursor or since its time."""
    query = messages_of(inbox_id, cutoff).where(folder_clause(wait.folder))
    if wait.after is not None:
        return query.where(after_cursor(t.messages, wait.after))
    return query.where(t.messages.c.received_at >= wait.since)


def _passes(wait: WaitFilter) -> sa.ColumnElement[bool]:
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


def find_match(
    conn: sa.Connection, inbox_id: str, wait: WaitFilter, *, cutoff: datetime
) -> MessageWithArtifacts | None:
    """The oldest match after `wait.after`, else the newest match since `wait.since`."""
    query = _window(inbox_id, wait, cutoff).where(_passes(wait))
    if wait.after is not None:
        query = query.order_by(t.messages.c.received_at, t.messages.c.id)
    else:
        query = query.order_by(t.messages.c.received_at.desc(), t.messages.c.id.desc())
    row = conn.execute(query.limit(1)).first()
    return None if row is None else with_artifacts(conn, Message.of(row))


def count_unmatched(
    conn: sa.Connection, inbox_id: str, wait: WaitFilter, *, cutoff: datetime
) -> int:
    """How many messages in the wait's window do not pass its filters: what a waiter that
    timed out needs to tell "nothing came" from "something came, but not what I asked for"."""
    window = _window(inbox_id, wait, cutoff).where(sa.not_(_passes(wait)))
    return conn.scalar(sa.select(sa.func.count()).select_from(window.subquery())) or 0


@attrs.frozen(kw_only=True)
class WaitOutcome:
    match: MessageWithArtifacts | None
    unmatched_count: int  # when nothing matched: what arrived in the window regardless


def _look(
    conn: sa.Connection, key_id: str, inbox_id: str, wait: WaitFilter, *, cutoff: datetime
) -> MessageWithArtifacts | None:
    """One look for a match, by a key that must still be valid: a wait outlives its
    admission, and a key revoked meanwhile must not see the mail that arrives after."""
    require_active(conn, key_id)
    return find_match(conn, inbox_id, wait, cutoff=cutoff)


def _unmatched(
    conn: sa.Connection, key_id: str, inbox_id: str, wait: WaitFilter, *, cutoff: datetime
) -> int:
    require_active(conn, key_id)
    return count_unmatched(conn, inbox_id, wait, cutoff=cutoff)


async def wait_for_match(
    services: Services,
    key_id: str,
    inbox_id: str,
    wait: WaitFilter,
    *,
    seconds: float,
    cutoff: datetime,
    caller_gone: Callable[[], Awaitable[bool]],
) -> WaitOutcome:
    """The first match, as soon as it is committed, or none after `seconds` (or
    once the server stops, or `caller_gone()`). Woken by the hub at every commit into the
    inbox, and re-reading every `waits.recheck_seconds` regardless."""
    hub, db = services.hub, services.db
    recheck = services.settings.waits.recheck_seconds
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    # Subscribe before the first look, so a message committed in between still wakes us.
    async with hub.subscribe(inbox_id) as subscription:
        while True:
            found = await db.run_read(_look, key_id, inbox_id, wait, cutoff=cutoff)
            if found is not None:
                return WaitOutcome(match=found, unmatched_count=0)
            remaining = deadline - loop.time()
            if remaining <= 0 or hub.stopping or await caller_gone():
                break
            await subscription.wait(min(remaining, recheck))
    unmatched = await db.run_read(_unmatched, key_id, inbox_id, wait, cutoff=cutoff)
    return WaitOutcome(match=None, unmatched_count=unmatched)
