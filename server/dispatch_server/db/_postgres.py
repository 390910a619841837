"""PostgreSQL: asyncpg through SQLAlchemy's async engine, transaction functions via run_sync."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.db import dialect

log = logging.getLogger("dispatch_server.db")

T = TypeVar("T")


class PostgresBackend:
    def __init__(self, url: str, *, echo: bool, pool_size: int, max_overflow: int) -> None:
        self.engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
        )

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self.engine.connect() as conn, conn.begin():
            return await conn.run_sync(fn, *args, **kwargs)

    async def run_short_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.run_read(fn, *args, **kwargs)

    async def run_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self.engine.begin() as conn:
            result, notifications = await conn.run_sync(_noting, fn, args, kwargs)
        if notifications:
            await self._notify(notifications)
        return result

    async def _notify(self, notifications: list[tuple[str, str]]) -> None:
        """Send what a committed transaction left for NOTIFY (see dialect.take_notifications);
        a failure is logged, not raised: the write it announces has committed."""
        try:
            async with self.engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None  # an asyncpg connection, checked out
                await driver.execute(dialect.notifications_sql(notifications))
        except Exception as error:  # a lost notification is recovered as a missed one is
            log.warning("could not send %d notifications: %s", len(notifications), error)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _noting(
    conn: sa.Connection, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[T, list[tuple[str, str]]]:
    dialect.take_notifications(conn)  # none left behind by a transaction that failed
    try:
        return fn(conn, *args, **kwargs), dialect.take_notifications(conn)
    finally:
        dialect.take_notifications(conn)
