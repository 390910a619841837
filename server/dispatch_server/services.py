"""The services a process runs on, wired once: used by the app's lifespan, every CLI command,
and later the worker."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import attrs

from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.events.hub import Hub


@attrs.define
class Services:
    settings: Settings
    db: Database
    hub: Hub

    @classmethod
    async def open(cls, settings: Settings, *, listen: bool = True) -> Services:
        """Connect to the database; with `listen`, hear other processes' wake-ups
        (PostgreSQL LISTEN) so waiters here wake for mail ingested elsewhere."""
        db = Database(settings.storage.database_url)
        hub = Hub()
        try:
            if listen:
                await hub.start_listening(db)
        except BaseException:
            await db.dispose()
            raise
        return cls(settings=settings, db=db, hub=hub)

    async def close(self) -> None:
        await self.hub.close()
        await self.db.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
