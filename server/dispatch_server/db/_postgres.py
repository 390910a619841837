"""PostgreSQL: asyncpg through SQLAlchemy's async engine, transaction functions via run_sync."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import create_async_engine

T = TypeVar("T")


class PostgresBackend:
    POOL_SIZE = 10
    MAX_OVERFLOW = 20

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.engine = create_async_engine(
            url,
            echo=echo,
            pool_size=self.POOL_SIZE,
            max_overflow=self.MAX_OVERFLOW,
            pool_pre_ping=True,
        )

    async def run_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self.engine.connect() as conn, conn.begin():
            return await conn.run_sync(fn, *args, **kwargs)

    async def run_short_read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.run_read(fn, *args, **kwargs)

    async def run_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def dispose(self) -> None:
        await self.engine.dispose()
