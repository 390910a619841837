"""The database: one facade over the SQLite and PostgreSQL backends, chosen here by URL.

A transaction function is plain synchronous code taking a `sa.Connection` first, so the
same domain code runs on both backends: `await db.run_read(fn, ...)` runs it in one read
transaction (one snapshot), `await db.run_write(fn, ...)` in one write transaction and
returns its result once committed. The few SQL differences between the two live in
`dispatch_server.db.dialect`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from dispatch_server.db import notices
from dispatch_server.db._postgres import PostgresBackend
from dispatch_server.db._sqlite import SqliteBackend
from dispatch_server.db.urls import database_url

T = TypeVar("T")

__all__ = ["Database"]


class Database:
    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 20
    ) -> None:
        """`pool_size` and `max_overflow`: PostgreSQL's connections (DISPATCH_DB_POOL_SIZE,
        DISPATCH_DB_MAX_OVERFLOW); SQLite keeps its own few."""
        self.url = database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # Called with the notices of each write transaction that left some, after its commit.
        self.on_commit: list[Callable[[set[str]], None]] = []
        self._backend: SqliteBackend | PostgresBackend = (
            SqliteBackend(self.url, echo=echo)
            if self.is_sqlite
            else PostgresBackend(
                self.url, echo=echo, pool_size=pool_size, max_overflow=max_overflow
            )
        )

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(connection, *args, **kwargs)` in one read transaction (one snapshot)."""
        return await self._backend.run_read(fn, *args, **kwargs)

    async def run_short_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`run_read` for a read of a few rows by index that must not wait for anything. On
        SQLite it runs on the event loop's thread, as the writer's statements do: in WAL mode
        a read takes no lock a writer holds, and the hand-off to a reader thread and back
        cost more than the query (the SMTP door's check at every RCPT). On PostgreSQL it runs
        outside a transaction, so `fn` must be one statement."""
        return await self._backend.run_short_read(fn, *args, **kwargs)

    async def run_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(connection, *args, **kwargs)` in one write transaction; return its result
        once committed. On SQLite, several writes may share one commit (group commit), so a
        transaction function must touch nothing but the connection it is given. The notices
        it left (`dispatch_server.db.notices`) go to the `on_commit` listeners after the
        commit."""
        if not self.on_commit:
            return await self._backend.run_write(fn, *args, **kwargs)
        left: set[str] = set()

        def transaction(conn: sa.Connection, *args: Any, **kwargs: Any) -> T:
            left.clear()  # a job run again (SQLite's batch after a failure) starts over
            notices.take(conn)
            result = fn(conn, *args, **kwargs)
            left.update(notices.take(conn))
            return result

        result = await self._backend.run_write(transaction, *args, **kwargs)
        if left:
            for listener in self.on_commit:
                listener(left)
        return result

    async def ping(self) -> None:
        await self.run_read(lambda conn: conn.execute(sa.text("SELECT 1")))

    async def dispose(self) -> None:
        await self._backend.dispose()
