"""PostgreSQL: asyncpg through SQLAlchemy's async engine, transaction functions via run_sync."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from dispatch_server.db import dialect

log = logging.getLogger("dispatch_server.db")

T = TypeVar("T")


class PostgresBackend:
    # A pooled connection idle this long is pinged before it is handed out (one that fails is
    # replaced). Not every checkout: the dialect's ping is three round trips (BEGIN, an empty
    # query, ROLLBACK), which were a third of the SMTP door's work per message. A connection
    # in use that the server dropped fails its transaction once; the pool then replaces every
    # connection it had before the failure.
    PING_AFTER_IDLE_SECONDS = 10.0

    def __init__(self, url: str, *, echo: bool, pool_size: int, max_overflow: int) -> None:
        self.engine = create_async_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=max_overflow
        )
        sa.event.listen(self.engine.sync_engine.pool, "checkin", _note_return)
        sa.event.listen(self.engine.sync_engine.pool, "checkout", self._ping_if_idle)

    def _ping_if_idle(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < self.PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise sa.exc.DisconnectionError(str(error)) from error  # the pool takes another

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self.engine.connect() as conn, conn.begin():
            return await conn.run_sync(fn, *args, **kwargs)

    async def run_short_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Outside a transaction (no BEGIN and COMMIT round trips): each statement sees its own
        snapshot, so `fn` is one statement."""
        async with self.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await autocommit.run_sync(fn, *args, **kwargs)

    async def run_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self.engine.connect() as conn:
            async with conn.begin():
                result, notifications = await conn.run_sync(_noting, fn, args, kwargs)
            if notifications:  # committed: sent on the same connection, no second checkout
                await _notify(conn, notifications)
        return result

    async def dispose(self) -> None:
        await self.engine.dispose()


_RETURNED_AT = "dispatch_returned_at"


def _note_return(_dbapi_connection: Any, record: Any) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


async def _notify(conn: AsyncConnection, notifications: list[tuple[str, str]]) -> None:
    """Send what a committed transaction left for NOTIFY (see dialect.take_notifications).
    A failure is logged, not raised: the write it announces has committed, and a lost
    notification is recovered as a missed one is. The connection is then discarded, since
    the server may hold it in an aborted transaction that SQLAlchemy does not know of."""
    try:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None  # an asyncpg connection, checked out
        await driver.execute(dialect.notifications_sql(notifications))
    except BaseException as error:
        await conn.invalidate()
        if not isinstance(error, Exception):
            raise  # cancelled: after the connection is dropped
        log.warning("could not send %d notifications: %s", len(notifications), error)


def _noting(
    conn: sa.Connection, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[T, list[tuple[str, str]]]:
    dialect.take_notifications(conn)  # none left behind by a transaction that failed
    try:
        return fn(conn, *args, **kwargs), dialect.take_notifications(conn)
    finally:
        dialect.take_notifications(conn)
