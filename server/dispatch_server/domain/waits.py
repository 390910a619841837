"""What a server-side wait looks for: the filter, the match, and what arrived unmatched.

A wait looks in the database when it starts, and then judges the messages the hub hands it
as they are committed (`Arrival`s) in memory; it reads the database again only when it cannot
judge them there: woken without the message (another process's ingest, a LISTEN reconnect,
the hub's recheck of the inboxes waited on), or for a filter whose text comparison the
database might do differently (anything but ASCII).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.auth.api_keys import require_active
from dispatch_server.auth.policy import Senders, sender_allowed
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, NotFound
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.core.pagination import Cursor
from dispatch_server.db import tables as t
from dispatch_server.db.paging import after as after_cursor
from dispatch_server.domain.messages import (
    FolderFilter,
    Message,
    MessageWithArtifacts,
    folder_clause,
    in_folder,
    messages_of,
    with_artifacts,
)
from dispatch_server.events.hub import AnswerNow, Arrival, Hub

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
    # The senders a restricted key may read: mail from anyone else is not in its window.
    senders: Senders = None

    def resume_cursor(self) -> Cursor:
        """Where the next wait should start when this one matched nothing."""
        return self.after or Cursor("message", self.since, "")


def _window(inbox_id: str, wait: WaitFilter, cutoff: datetime) -> sa.Select[Any]:
    """The messages a wait looks at: its folder, after its cursor or since its time."""
    query = messages_of(inbox_id, cutoff, senders=wait.senders).where(folder_clause(wait.folder))
    if wait.after is not None:
        return query.where(after_cursor(t.messages, wait.after))
    return query.where(t.messages.c.received_at >= wait.since)


def _passes(wait: WaitFilter) -> sa.ColumnElement[bool]:
    """Whether a message in the window passes the wait's filters."""
    conditions: list[sa.ColumnElement[bool]] = []
    if wait.from_contains:
        # The address, not the display name: anyone sending can name themselves anything.
        sender = sa.func.coalesce(t.messages.c.from_address, "")
        conditions.append(sender.icontains(wait.from_contains, autoescape=True))
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


class Undecided(Exception):
    """An arrival that a wait cannot judge in memory: it must look in the database."""


def _contains(haystack: str | None, needle: str) -> bool:
    """The database's case-insensitive substring test, where Python's surely agrees with it:
    for ASCII text (SQLite lowers only ASCII; PostgreSQL lowers per its locale)."""
    text = haystack or ""
    if not (needle.isascii() and text.isascii()):
        raise Undecided
    return needle.lower() in text.lower()


def passes(wait: WaitFilter, arrival: Arrival, *, cutoff: datetime) -> bool:
    """In memory, what `_window` and `_passes` say in SQL: whether the message is a match."""
    message = arrival.found.message
    position = (message.received_at, message.id)
    if wait.after is not None:
        if position <= (wait.after.at, wait.after.id):
            return False
    elif message.received_at < wait.since:
        return False
    if message.received_at < cutoff or not in_folder(
        wait.folder, message.folder, message.trashed_at is not None
    ):
        return False
    if not sender_allowed(wait.senders, message.from_address):
        return False
    if wait.kind != "message" and wait.kind not in arrival.kinds:
        return False
    if wait.from_contains and not _contains(message.from_address, wait.from_contains):
        return False
    return not (wait.subject_contains and not _contains(message.subject, wait.subject_contains))


def match_arrivals(
    wait: WaitFilter, arrivals: Sequence[Arrival], *, cutoff: datetime
) -> Arrival | None:
    """The match among messages committed after the wait's last look, which found none: the
    oldest after its cursor, else the newest. Raises Undecided when it cannot tell."""
    matches = [a for a in arrivals if passes(wait, a, cutoff=cutoff)]
    if not matches:
        return None

    def position(arrival: Arrival) -> tuple[datetime, str]:
        return (arrival.found.message.received_at, arrival.found.message.id)

    return min(matches, key=position) if wait.after is not None else max(matches, key=position)


@attrs.frozen(kw_only=True)
class WaitOutcome:
    match: MessageWithArtifacts | None
    unmatched_count: int  # when nothing matched: what arrived in the window regardless
    # The match's arrival, when the hub handed it over: shared by every waiter it matched.
    arrival: Arrival | None = None
    answered: bool = False  # `answer_now` answered it already


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


def _answer_at_once(
    hub: Hub,
    key_id: str,
    wait: WaitFilter,
    cutoff: datetime,
    answer_now: AnswerNow,
    arrival: Arrival,
) -> bool:
    """In the hub's turn: answer with the arrival if it is a match that the wait's task would
    answer without a look (see `wait_for_match`), for a key known valid; else leave it to
    the task."""
    if hub.stopping or not hub.keys.known_active(key_id):
        return False
    try:
        if not passes(wait, arrival, cutoff=cutoff):
            return False
    except Undecided:
        return False
    return answer_now(arrival)


async def wait_for_match(
    services: Services,
    key_id: str,
    inbox_id: str,
    wait: WaitFilter,
    *,
    seconds: float,
    cutoff: datetime,
    caller_gone: Callable[[], Awaitable[bool]],
    answer_now: AnswerNow | None = None,
) -> WaitOutcome:
    """The first match, as soon as it is committed, or none after `seconds` (or
    once the server stops, or `caller_gone()`). Woken by the hub at every commit into the
    inbox, judging what it hands over in memory when it can; the hub rechecks the inboxes
    waited on every `waits.recheck_seconds`, for all waits at once.

    With `answer_now`, a match that can be judged in memory, for a key known valid, is
    answered by it in the hub's turn (see `Subscription`), and the outcome says `answered`."""
    hub, db = services.hub, services.db
    recheck = services.settings.waits.recheck_seconds
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    # Subscribe before the first look, so a message committed in between still reaches us.
    with hub.keys.held(db, key_id), hub.rechecked(db, recheck):
        async with hub.subscribe(inbox_id) as subscription:
            must_look = True
            while True:
                if must_look:
                    subscription.take()  # committed before this look begins: it reads them
                    began = time.monotonic()
                    found = await db.run_read(_look, key_id, inbox_id, wait, cutoff=cutoff)
                    hub.keys.confirmed(key_id, began)
                    if found is not None:
                        return WaitOutcome(match=found, unmatched_count=0)
                remaining = deadline - loop.time()
                if remaining <= 0 or hub.stopping or await caller_gone():
                    break
                # Not longer than a recheck interval, so a caller that left is noticed.
                if answer_now is not None and wait.after is None:
                    subscription.answer_now = functools.partial(
                        _answer_at_once, hub, key_id, wait, cutoff, answer_now
                    )
                try:
                    woken = await subscription.wait(min(remaining, recheck))
                finally:
                    subscription.answer_now = None
                answered = subscription.answered
                if answered is not None:
                    return WaitOutcome(
                        match=answered.found, unmatched_count=0, arrival=answered, answered=True
                    )
                if not woken:
                    must_look = False
                    continue
                arrivals, must_look = subscription.take()
                # A wait after a cursor answers the oldest message after it, and another
                # process (sharing the SQLite file, or PostgreSQL's late notifications) may
                # have committed an older one than this arrival: the database decides.
                if must_look or wait.after is not None:
                    must_look = True
                    continue
                try:
                    arrival = match_arrivals(wait, arrivals, cutoff=cutoff)
                except Undecided:
                    must_look = True
                    continue
                if arrival is not None:
                    await hub.keys.require_active(db, key_id)
                    return WaitOutcome(match=arrival.found, unmatched_count=0, arrival=arrival)
    unmatched = await db.run_read(_unmatched, key_id, inbox_id, wait, cutoff=cutoff)
    return WaitOutcome(match=None, unmatched_count=unmatched)


# --- codes used once -------------------------------------------------------------------


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    """An OTP no consuming wait holds: never taken, or its lease lapsed unconfirmed."""
    a = t.artifacts.c
    return sa.or_(
        a.consumed_at.is_(None), sa.and_(a.lease_expires_at.is_not(None), a.lease_expires_at <= now)
    )


# How many candidates a claim tries in one transaction before it looks again.
_CLAIM_BATCH = 20
_CLAIM_ROUNDS = 50  # batches one claim may look at before it waits for the next arrival


def claim_otp(
    conn: sa.Connection,
    key_id: str,
    inbox_id: str,
    wait: WaitFilter,
    *,
    cutoff: datetime,
    now: datetime,
    lease_seconds: int | None,
) -> MessageWithArtifacts | None:
    """Take the primary OTP of a matching message that no consuming wait holds, atomically:
    a conditional UPDATE (… WHERE it is still claimable), so of concurrent claims of one
    code exactly one changes its row (PostgreSQL re-checks the condition once the first
    commits; SQLite's writes are serial). The match as a wait answers it, its OTP with the
    consumed state and, when leased, the lease; None when every candidate is taken."""
    a = t.artifacts
    window = _window(inbox_id, wait, cutoff).where(_passes(wait)).subquery()
    order = (
        (a.c.received_at, a.c.id)
        if wait.after is not None
        else (
            a.c.received_at.desc(),
            a.c.id.desc(),
        )
    )
    lease_until = None if lease_seconds is None else now + timedelta(seconds=lease_seconds)
    lease_id = None if lease_seconds is None else new_id()
    candidates_query = (
        sa.select(a.c.id)
        .where(
            a.c.inbox_id == inbox_id,
            a.c.kind == "otp",
            a.c.is_primary.is_(True),
            _claimable(now),
            a.c.message_id.in_(sa.select(window.c.id)),
        )
        .order_by(*order)
        .limit(_CLAIM_BATCH)
    )
    # A whole batch taken by other waits meanwhile (PostgreSQL) is no reason to sleep while
    # more codes are free: the next batch is looked at at once.
    for _ in range(_CLAIM_ROUNDS):
        candidates = conn.scalars(candidates_query).all()
        for artifact_id in candidates:
            taken = conn.execute(
                a.update()
                .where(a.c.id == artifact_id, _claimable(now))
                .values(
                    consumed_at=now,
                    lease_expires_at=lease_until,
                    lease_id=lease_id,
                    consumed_by=key_id,
                )
            )
            if taken.rowcount != 1:
                continue  # another wait took it first
            message_id = conn.scalar(sa.select(a.c.message_id).where(a.c.id == artifact_id))
            row = conn.execute(
                messages_of(inbox_id, cutoff).where(t.messages.c.id == message_id)
            ).first()
            if row is None:  # purged meanwhile: nothing to answer with
                continue
            found = with_artifacts(conn, Message.of(row))
            return attrs.evolve(found, lease_id=lease_id)
        if len(candidates) < _CLAIM_BATCH:
            return None
    return None


async def wait_to_consume(
    services: Services,
    key_id: str,
    inbox_id: str,
    wait: WaitFilter,
    *,
    seconds: float,
    cutoff: datetime,
    lease_seconds: int | None,
    caller_gone: Callable[[], Awaitable[bool]],
) -> MessageWithArtifacts | None:
    """A consuming wait: the first code it manages to claim (`claim_otp`), as soon as one is
    committed, or None after `seconds`. Every commit into the inbox wakes every waiter, and
    each tries to claim: one gets the code, the others find it taken and wait on."""
    hub, db = services.hub, services.db
    recheck = services.settings.waits.recheck_seconds
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    with hub.keys.held(db, key_id), hub.rechecked(db, recheck):
        async with hub.subscribe(inbox_id) as subscription:
            while True:
                subscription.take()  # committed before this claim begins: it sees them
                await hub.keys.require_active(db, key_id)
                claimed = await db.run_write(
                    claim_otp,
                    key_id,
                    inbox_id,
                    wait,
                    cutoff=cutoff,
                    now=utcnow(),
                    lease_seconds=lease_seconds,
                )
                if claimed is not None:
                    return claimed
                remaining = deadline - loop.time()
                if remaining <= 0 or hub.stopping or await caller_gone():
                    return None
                await subscription.wait(min(remaining, recheck))


class LeaseLapsed(DomainError):
    code = ErrorCode.OTP_LEASE_EXPIRED


def confirm_otp(
    conn: sa.Connection, inbox_id: str, otp_id: str, lease_id: str, *, now: datetime
) -> str:
    """Keep a leased code for good: its lease must still run and be `lease_id` (confirming
    again changes nothing). The code's message id; NotFound, or LeaseLapsed (409)."""
    a = t.artifacts
    if not is_id(otp_id):
        raise NotFound("otp")
    of_inbox = sa.and_(a.c.id == otp_id, a.c.inbox_id == inbox_id, a.c.kind == "otp")
    conn.execute(
        a.update()
        .where(of_inbox, a.c.lease_id == lease_id, a.c.lease_expires_at > now)
        .values(lease_expires_at=None)
    )
    row = conn.execute(
        sa.select(a.c.message_id, a.c.lease_id, a.c.consumed_at, a.c.lease_expires_at).where(
            of_inbox
        )
    ).first()
    if row is None:
        raise NotFound("otp")
    if row.consumed_at is None or row.lease_id != lease_id or row.lease_expires_at is not None:
        raise LeaseLapsed(
            "the lease ended (or is not this code's current one): the code went back to the "
            "pool; wait for a code again",
            param="lease_id",
        )
    message_id: str = row.message_id
    return message_id
