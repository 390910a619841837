"""Wake-ups for waiters: ingest publishes an inbox id after commit, waiters on that inbox wake.

In-process delivery is direct. With PostgreSQL, ingest also NOTIFYs inside its transaction
(delivered at commit) so API processes other than the ingesting one wake too; each process
tags its notifications so it ignores its own echo.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa

from dispatch_server.db import Database

log = logging.getLogger(__name__)

CHANNEL = "dispatch_inbox"


class Subscription:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def _wake(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait for a wake-up (True) or `seconds` to pass (False); re-arms for the next one."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return False
        self._event.clear()
        return True


class Hub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self.origin = secrets.token_hex(6)
        self._listener: Any = None

    @asynccontextmanager
    async def subscribe(self, inbox_id: str) -> AsyncIterator[Subscription]:
        sub = Subscription()
        self._subscribers[inbox_id].add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(inbox_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[inbox_id]

    def publish_local(self, inbox_id: str) -> None:
        for sub in self._subscribers.get(inbox_id, ()):
            sub._wake()

    def notify_in_transaction(self, conn: sa.Connection, inbox_ids: list[str]) -> None:
        """For PostgreSQL: queue a NOTIFY per inbox, sent by the server at commit."""
        if conn.dialect.name != "postgresql":
            return
        for inbox_id in inbox_ids:
            conn.execute(sa.select(sa.func.pg_notify(CHANNEL, f"{self.origin}:{inbox_id}")))

    async def start_listening(self, db: Database) -> None:
        """With PostgreSQL, LISTEN on a dedicated connection for other processes' ingests."""
        if db.dialect != "postgresql":
            return
        import asyncpg

        url = sa.make_url(db.url).set(drivername="postgresql")
        self._listener = await asyncpg.connect(url.render_as_string(hide_password=False))
        await self._listener.add_listener(CHANNEL, self._on_notify)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        origin, _, inbox_id = payload.partition(":")
        if origin != self.origin:
            self.publish_local(inbox_id)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
