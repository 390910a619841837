"""The worker's retention purge: every DISPATCH_RETENTION_PURGE_SECONDS, mail past
DISPATCH_MESSAGE_RETENTION_DAYS is deleted, one bounded transaction after another (see
dispatch_server.domain.retention)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from dispatch_server.db import Database
from dispatch_server.domain import retention, webhooks
from dispatch_server.domain.messages import retention_cutoff
from dispatch_server.domain.retention import BATCH, Purged
from dispatch_server.events import log as event_log
from dispatch_server.ingest.pipeline import DOORS

log = logging.getLogger("dispatch_server.worker")


async def purge(db: Database, cutoff: datetime, stopping: asyncio.Event | None = None) -> Purged:
    """Delete everything from before `cutoff`, BATCH rows a transaction; stop early (what is
    left waits for the next purge) once `stopping` is set."""
    total = Purged()

    async def drain(step: Callable[..., Purged], *args: object) -> None:
        while stopping is None or not stopping.is_set():
            batch = await db.run_write(step, cutoff, *args)
            total.add(batch)
            if batch.total < BATCH:
                return

    for door in (*DOORS, None):
        await drain(retention.purge_messages, door)
    await drain(retention.purge_sent)
    await drain(retention.purge_records)
    return total


async def purge_events(
    db: Database, cutoff: datetime, stopping: asyncio.Event | None = None
) -> int:
    """Delete the events from before `cutoff`, and the finished webhook deliveries, a bounded
    transaction at a time."""
    total = 0
    for step in (event_log.purge, webhooks.purge):
        while stopping is None or not stopping.is_set():
            deleted = await db.run_write(step, older_than=cutoff, batch=BATCH)
            total += deleted
            if deleted < BATCH:
                break
    return total


async def purge_now_and_then(
    db: Database,
    retention_days: int,
    every: float,
    stopping: asyncio.Event,
    *,
    event_retention_days: int = 7,
) -> None:
    """Purge at once, then every `every` seconds, until `stopping` is set. A failed purge is
    logged; the next one tries again."""
    while not stopping.is_set():
        try:
            await purge_events(db, retention_cutoff(event_retention_days), stopping)
            purged = await purge(db, retention_cutoff(retention_days), stopping)
        except Exception as exc:
            log.warning("retention purge failed: %s", exc)
        else:
            if purged.total:
                log.info(
                    "retention purge: %d messages (%d OTPs), %d sent, %d other records",
                    purged.messages,
                    purged.otps,
                    purged.sent,
                    purged.other,
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=every)
