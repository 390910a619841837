"""Wake-ups for waiters: ingest publishes what it stored after commit, waiters on that inbox wake.

In-process delivery is direct and carries the stored message (an `Arrival`), so a waiter can
match it in memory instead of reading the database. With PostgreSQL, ingest also NOTIFYs
once its transaction committed (see db.dialect.take_notifications) so API processes other
than the ingesting one wake too, without the message: those waiters look in the database.
Each process tags its notifications so it ignores its own echo.

As a safety net for wake-ups that never came (another process's ingest on SQLite, a lost
notification), the hub looks every `recheck_seconds` which of the inboxes waited on got mail
lately, in one query for all of them, and wakes their waiters to look in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database, dialect
from dispatch_server.db import tables as t
from dispatch_server.domain.messages import MessageWithArtifacts
from dispatch_server.events.keys import ActiveKeys
from dispatch_server.events.log import CHANNEL as EVENTS_CHANNEL
from dispatch_server.events.log import NOTICE_PREFIX

log = logging.getLogger(__name__)

CHANNEL = "dispatch_inbox"
# Subscriptions to a workspace's event log are keyed `ws:<workspace id>` (see api.events).
STREAM_PREFIX = "ws:"

_WITH_MAIL_SINCE = (
    sa.select(t.messages.c.inbox_id)
    .where(
        t.messages.c.inbox_id.in_(sa.bindparam("inbox_ids", expanding=True)),
        t.messages.c.received_at >= sa.bindparam("since"),
    )
    .distinct()
)


def inboxes_with_mail_since(conn: sa.Connection, inbox_ids: list[str], since: datetime) -> set[str]:
    """Which of these inboxes have a message received at or after `since`."""
    found: set[str] = set()
    for start in range(0, len(inbox_ids), 1000):  # within every backend's limit of bound values
        chunk = {"inbox_ids": inbox_ids[start : start + 1000], "since": since}
        found.update(conn.scalars(_WITH_MAIL_SINCE, chunk))
    return found


class Arrival:
    """A message just committed to an inbox, as the ingest stored it. One object is shared by
    every waiter it wakes, so what they make of it alike (the rendered answer) can be kept on
    it and made once."""

    __slots__ = ("found", "kinds", "rendered")

    def __init__(self, found: MessageWithArtifacts) -> None:
        self.found = found
        self.kinds = frozenset(a.kind for a in found.artifacts)
        self.rendered: Any = None  # what the API made of it, for every waiter it answers


# Answers a waiter at once with an arrival, in the hub's turn; False: it could not.
AnswerNow = Callable[[Arrival], bool]


class Subscription:
    """What came for one waiter since it last took: arrivals in commit order, and whether it
    was woken without the message (another process's ingest, a reconnect, the shutdown).

    A waiter parked in `wait` may set `answer_now`: the hub then hands it an arrival first,
    in one turn of the event loop with every other such waiter on the inbox, and the
    waiter, if it can, answers there and then (`answered` tells it so when it resumes).
    A herd is then answered in one pass, before any of its waiters' tasks runs."""

    __slots__ = ("_arrivals", "_missed", "_pending", "_woken", "answer_now", "answered")

    def __init__(self) -> None:
        self._arrivals: list[Arrival] = []
        self._missed = False
        # A bare future and timer rather than an Event under wait_for, which costs a task per
        # wait: with 10,000 open waits, and a herd of them woken at once, that shows.
        self._woken: asyncio.Future[None] | None = None
        self._pending: Arrival | None = None  # handed over at the hub's next turn
        self.answer_now: AnswerNow | None = None
        self.answered: Arrival | None = None

    def can_answer_now(self) -> bool:
        """Whether the waiter is parked in `wait`, with nothing yet to take, and answers at
        once."""
        woken = self._woken
        return (
            self.answer_now is not None
            and woken is not None
            and not woken.done()
            and not (self._arrivals or self._missed or self._pending)
        )

    def _answer_pending(self) -> None:
        arrival, self._pending = self._pending, None
        if arrival is None:  # handed over meanwhile, with a later wake-up
            return
        if self.can_answer_now():
            answer_now, self.answer_now = self.answer_now, None
            assert answer_now is not None and self._woken is not None
            try:
                answered = answer_now(arrival)
            except Exception:  # a bug: the waiter's task answers it the usual way
                log.exception("could not answer a wait at once")
                answered = False
            if answered:
                self.answered = arrival
                self._woken.set_result(None)
                return
        self._wake(arrival)

    def _wake(self, arrival: Arrival | None = None) -> None:
        self._hand_over_pending()
        if arrival is None:
            self._missed = True
        else:
            self._arrivals.append(arrival)
        woken = self._woken
        if woken is not None and not woken.done():
            woken.set_result(None)

    def _hand_over_pending(self) -> None:
        if self._pending is not None:
            self._arrivals.append(self._pending)
            self._pending = None

    async def wait(self, seconds: float) -> bool:
        """Wait for a wake-up (True) or `seconds` to pass (False). What woke it is there to
        `take`, or it was `answered` already."""
        if not (self._arrivals or self._missed or self._pending):
            loop = asyncio.get_running_loop()
            woken = self._woken = loop.create_future()
            timer = loop.call_later(seconds, _time_up, woken)
            try:
                await woken
            finally:
                timer.cancel()
                self._woken = None
        return bool(self._arrivals or self._missed or self._pending or self.answered)

    def take(self) -> tuple[list[Arrival], bool]:
        """The arrivals so far and whether a wake-up came without its message; re-arms."""
        self._hand_over_pending()
        arrivals, missed = self._arrivals, self._missed
        self._arrivals, self._missed = [], False
        return arrivals, missed


def _answer_all(subs: list[Subscription]) -> None:
    for sub in subs:
        sub._answer_pending()


def _time_up(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


class Hub:
    RECONNECT_MAX_DELAY = 5.0
    # How far back each recheck looks before the previous one began: longer than an ingest
    # transaction lasts from taking its received_at to its commit.
    RECHECK_OVERLAP = timedelta(seconds=60)

    def __init__(self) -> None:
        # Per inbox, its subscriptions in the order they came (a dict as an ordered set), so a
        # herd is answered first come, first served.
        self._subscribers: dict[str, dict[Subscription, None]] = defaultdict(dict)
        self.origin = secrets.token_hex(6)
        self._listen_url: str | None = None
        self._listener: Any = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self.stopping = False
        self.keys = ActiveKeys()
        self._rechecking: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Subscriptions open in this process: one per wait."""
        return sum(len(subs) for subs in self._subscribers.values())

    @asynccontextmanager
    async def subscribe(self, inbox_id: str) -> AsyncIterator[Subscription]:
        sub = Subscription()
        self._subscribers[inbox_id][sub] = None
        try:
            yield sub
        finally:
            subs = self._subscribers.get(inbox_id)
            if subs is not None:
                subs.pop(sub, None)
                if not subs:
                    del self._subscribers[inbox_id]

    @contextlib.contextmanager
    def rechecked(self, db: Database, every: float) -> Iterator[None]:
        """While a wait is open here: recheck the inboxes waited on every `every` seconds."""
        if self._rechecking is None:
            self._rechecking = asyncio.get_running_loop().create_task(self._recheck(db, every))
        try:
            yield
        finally:
            if not self._subscribers and self._rechecking is not None:
                self._rechecking.cancel()
                self._rechecking = None

    async def _recheck(self, db: Database, every: float) -> None:
        since = utcnow() - self.RECHECK_OVERLAP
        while True:
            await asyncio.sleep(every)
            began = utcnow()
            try:
                inboxes = [key for key in self._subscribers if not key.startswith(STREAM_PREFIX)]
                found = await db.run_read(inboxes_with_mail_since, inboxes, since)
            except Exception as error:  # the next round tries again, from the same time
                log.warning("could not recheck the inboxes waited on: %s", error)
                continue
            since = began - self.RECHECK_OVERLAP
            for inbox_id in found:
                self.publish_local(inbox_id)

    def publish_local(self, inbox_id: str, found: MessageWithArtifacts | None = None) -> None:
        """Wake the inbox's waiters in this process, with the message just committed when the
        caller has it (without it, they look in the database)."""
        subs = self._subscribers.get(inbox_id)
        if not subs:
            return
        if found is None:
            for sub in subs:
                sub._wake()
            return
        arrival = Arrival(found)
        at_once: list[Subscription] = []
        for sub in subs:
            if sub.can_answer_now():
                sub._pending = arrival
                at_once.append(sub)
            else:
                sub._wake(arrival)
        if at_once:
            # At the loop's next turn, not now: the caller's own answer (the SMTP 250) goes
            # out first, then this herd's, one after the other in one pass.
            asyncio.get_running_loop().call_soon(_answer_all, at_once)

    def on_commit(self, notices: set[str]) -> None:
        """A write committed here: wake the event streams of the workspaces it wrote to."""
        for notice in notices:
            if notice.startswith(NOTICE_PREFIX):
                self.publish_local(STREAM_PREFIX + notice[len(NOTICE_PREFIX) :])

    def stop(self) -> None:
        """The server is shutting down: wake every waiter now, and have waits end at their
        next look (they answer as if their time had run out)."""
        self.stopping = True
        self._wake_everyone()

    def _wake_everyone(self) -> None:
        for subs in self._subscribers.values():
            for sub in subs:
                sub._wake()

    def notify_in_transaction(self, conn: sa.Connection, inbox_ids: list[str]) -> None:
        """Tell other processes, once committed, that these inboxes got mail (PostgreSQL)."""
        dialect.notify(conn, CHANNEL, [f"{self.origin}:{inbox_id}" for inbox_id in inbox_ids])

    async def start_listening(self, db: Database) -> None:
        """With PostgreSQL, LISTEN on a dedicated connection for other processes' ingests.

        If that connection is lost it is re-opened with backoff; once it is back, every waiter
        is woken to look again, since notifications sent meanwhile were missed.
        """
        if db.dialect != "postgresql":
            return
        url = sa.make_url(db.url).set(drivername="postgresql")
        self._listen_url = url.render_as_string(hide_password=False)
        await self._listen()

    async def _listen(self) -> None:
        import asyncpg

        assert self._listen_url is not None
        listener = await asyncpg.connect(self._listen_url)
        try:
            await listener.add_listener(CHANNEL, self._on_notify)
            await listener.add_listener(EVENTS_CHANNEL, self._on_event_notify)
        except BaseException:
            await listener.close()
            raise
        listener.add_termination_listener(self._on_listener_lost)
        self._listener = listener

    def _on_listener_lost(self, _conn: Any) -> None:
        if self._closing or self._reconnecting is not None:
            return
        log.warning("lost the PostgreSQL LISTEN connection; reconnecting")
        self._listener = None
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.1
        try:
            while not self._closing:
                try:
                    await self._listen()
                except Exception as exc:  # any failure to connect: try again later
                    log.warning("LISTEN reconnect failed (%s); retrying in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.RECONNECT_MAX_DELAY)
                    continue
                log.info("PostgreSQL LISTEN connection is back")
                self._wake_everyone()
                return
        finally:
            self._reconnecting = None

    def _on_event_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.publish_local(STREAM_PREFIX + payload)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        origin, _, inbox_id = payload.partition(":")
        if origin != self.origin:
            self.publish_local(inbox_id)

    async def close(self) -> None:
        self._closing = True
        await self.keys.close()
        rechecking, self._rechecking = self._rechecking, None
        if rechecking is not None:
            rechecking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rechecking
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
