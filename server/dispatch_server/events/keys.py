"""Whether a waiting key is still valid, without a database read on every look.

A wait outlives the key check at its start, and a key revoked meanwhile must see no more mail.
A database look of a wait checks its key in the same transaction; a wait answered from an
arrival in memory needs the key confirmed by the database at most `CONFIRMED_FOR` seconds
before, else it is checked again, in one query for all the keys that need it at that moment.
So that a herd of waiters woken together need not wait for that query, the keys of open waits
are confirmed again every `CONFIRMED_FOR / 2` seconds, all in one query. A key revoked in this
process is forgotten at once, so here it sees nothing after its revocation; one revoked by
another process (PostgreSQL, or a second API process on one SQLite file) sees mail for at
most `CONFIRMED_FOR` seconds more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dispatch_server.auth.api_keys import KeyRefused, active_among

if TYPE_CHECKING:
    from dispatch_server.db import Database

log = logging.getLogger(__name__)


def revoked_error() -> KeyRefused:
    return KeyRefused("key revoked during a wait")  # the one 401 every refused key gets


class ActiveKeys:
    CONFIRMED_FOR = 1.0  # seconds

    def __init__(self) -> None:
        self._confirmed: dict[str, float] = {}  # key id -> when a look that found it valid began
        # Kept for the process's life: a look that began before a revocation may end after it,
        # and must not mark the key valid again. Revocations are rare, deliberate acts.
        self._revoked: set[str] = set()
        self._asked: dict[str, asyncio.Future[bool]] | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self._prune_at = 1024
        self._held: Counter[str] = Counter()  # keys of open waits, and how many each
        self._refreshing: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def held(self, db: Database, key_id: str) -> Iterator[None]:
        """While a wait of this key is open: keep its confirmation fresh."""
        self._held[key_id] += 1
        if self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh(db))
        try:
            yield
        finally:
            self._held[key_id] -= 1
            if not self._held[key_id]:
                del self._held[key_id]
                if not self._held and self._refreshing is not None:
                    self._refreshing.cancel()
                    self._refreshing = None

    async def _refresh(self, db: Database) -> None:
        while True:
            await asyncio.sleep(self.CONFIRMED_FOR / 2)
            began = time.monotonic()
            try:
                active = await db.run_read(active_among, list(self._held))
            except Exception as error:  # waits then check their keys themselves
                log.warning("could not confirm the keys of open waits: %s", error)
                continue
            for key_id in list(self._held):
                if key_id in active:
                    self.confirmed(key_id, began)
                else:
                    self._confirmed.pop(key_id, None)

    async def close(self) -> None:
        refreshing, self._refreshing = self._refreshing, None
        if refreshing is not None:
            refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refreshing

    def confirmed(self, key_id: str, since: float) -> None:
        """The database found the key valid in a read that began at `since` (monotonic)."""
        if key_id in self._revoked:
            return
        self._confirmed[key_id] = since
        if len(self._confirmed) > self._prune_at:
            fresh_after = time.monotonic() - self.CONFIRMED_FOR
            self._confirmed = {k: s for k, s in self._confirmed.items() if s > fresh_after}
            self._prune_at = max(1024, 2 * len(self._confirmed))

    def revoked(self, key_id: str) -> None:
        """This process revoked the key (after its commit)."""
        self._revoked.add(key_id)
        self._confirmed.pop(key_id, None)

    def known_active(self, key_id: str) -> bool:
        """Whether the key is valid as far as `require_active` can tell without asking."""
        if key_id in self._revoked:
            return False
        since = self._confirmed.get(key_id)
        return since is not None and time.monotonic() - since < self.CONFIRMED_FOR

    async def require_active(self, db: Database, key_id: str) -> None:
        """Raise KeyRefused unless the key is known valid, from the database if need be."""
        if key_id in self._revoked:
            raise revoked_error()
        since = self._confirmed.get(key_id)
        now = time.monotonic()
        if since is not None and now - since < self.CONFIRMED_FOR:
            return
        # Shielded: the answer is shared, and one waiter leaving must not cancel it for all.
        if not await asyncio.shield(self._ask(db, key_id)):
            raise revoked_error()
        self.confirmed(key_id, now)

    def _ask(self, db: Database, key_id: str) -> asyncio.Future[bool]:
        """Whether the key is valid, asked together with every key asked in this turn of the
        event loop."""
        loop = asyncio.get_running_loop()
        if self._asked is None:
            self._asked = {}
            loop.call_soon(self._start_answer, db)
        asked = self._asked.get(key_id)
        if asked is None:
            asked = self._asked[key_id] = loop.create_future()
        return asked

    def _start_answer(self, db: Database) -> None:
        asked, self._asked = self._asked or {}, None
        task = asyncio.get_running_loop().create_task(self._answer(db, asked))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, db: Database, asked: dict[str, asyncio.Future[bool]]) -> None:
        try:
            active = await db.run_read(active_among, list(asked))
        except Exception as error:
            for future in asked.values():
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException:
            for future in asked.values():
                future.cancel()
            raise
        for key_id, future in asked.items():
            if not future.done():
                future.set_result(key_id in active)
