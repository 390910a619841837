"""The worker's heartbeat: its row in `dispatch_worker_heartbeats`, written when it starts,
every DISPATCH_WORKER_HEARTBEAT_SECONDS, and once more when it stops gracefully."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from dispatch_server.core.clock import utcnow
from dispatch_server.core.ids import new_id
from dispatch_server.db import Database
from dispatch_server.domain import workers
from dispatch_server.worker.consumer import Stats

log = logging.getLogger("dispatch_server.worker")


class Heartbeat:
    def __init__(self, db: Database, stats: Stats, every: float) -> None:
        self.db = db
        self.stats = stats
        self.every = every
        self.worker_id = new_id()
        self.host = socket.gethostname()
        self.pid = os.getpid()

    async def register(self) -> None:
        await self.db.run_write(workers.register, self.worker_id, self.host, self.pid, utcnow())

    async def run(self, stopping: asyncio.Event) -> None:
        """Beat until `stopping` is set; a beat that fails is logged, the next one tries."""
        while True:
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.every)
                return
            except TimeoutError:
                pass
            try:
                await self.beat()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    async def beat(self, *, stopped: bool = False) -> None:
        await self.db.run_write(workers.beat, self._beat(), utcnow(), stopped=stopped)

    def _beat(self) -> workers.Beat:
        return workers.Beat(
            worker_id=self.worker_id,
            processed=self.stats.processed,
            failed=self.stats.failed,
            queue_lag_seconds=self.stats.queue_lag_seconds,
        )
