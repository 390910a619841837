"""The worker's retention purge: every DISPATCH_RETENTION_PURGE_SECONDS, mail past
DISPATCH_MESSAGE_RETENTION_DAYS is deleted, one bounded transaction after another (see
dispatch_server.domain.retention), each bounded in time too: on SQLite a purge transaction
holds the one write lock, and every ingest beside it waits until it commits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from dispatch_server.db import Database
from dispatch_server.domain import retention, webhooks
from dispatch_server.domain.messages import retention_cutoff
from dispatch_server.domain.retention import BATCH, Purged
from dispatch_server.events import log as event_log
from dispatch_server.ingest.pipeline import DOORS

log = logging.getLogger("dispatch_server.worker")

# How long one purge transaction should take at most. A batch that took longer halves the
# next one (down to MIN_BATCH rows); one that took under half of it doubles the next (up to
# BATCH). 500 messages with their raw MIME took about 75 ms on SQLite (bench.data_growth).
BATCH_SECONDS = 0.025
MIN_BATCH = 20


def next_batch(rows: int, seconds: float, most: int) -> int:
    """The rows of the next purge transaction, after one of `rows` took `seconds`."""
    if seconds > BATCH_SECONDS:
        return max(min(MIN_BATCH, most), rows // 2)
    if seconds < BATCH_SECONDS / 2:
        return min(most, rows * 2)
    return rows


async def _batches(
    run: Callable[[int], Awaitable[int]], stopping: asyncio.Event | None, rows: int
) -> int:
    """Call `run(rows)` until it deletes fewer than it was given (or `stopping` is set),
    `rows` adapted to how long the last call took; return the size to start the next step
    with, so that each step does not begin again at BATCH."""
    while stopping is None or not stopping.is_set():
        started = time.perf_counter()
        if await run(rows) < rows:
            break
        rows = next_batch(rows, time.perf_counter() - started, BATCH)
    return rows


async def purge(db: Database, cutoff: datetime, stopping: asyncio.Event | None = None) -> Purged:
    """Delete everything from before `cutoff`, at most BATCH rows a transaction; stop early
    (what is left waits for the next purge) once `stopping` is set."""
    total = Purged()
    rows = BATCH

    async def drain(step: Callable[..., Purged], *args: object) -> None:
        nonlocal rows

        async def run(limit: int) -> int:
            batch = await db.run_write(step, cutoff, *args, limit=limit)
            total.add(batch)
            return batch.total

        rows = await _batches(run, stopping, rows)

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
    rows = BATCH
    for step in (event_log.purge, webhooks.purge):

        async def run(rows: int, step: Callable[..., int] = step) -> int:
            nonlocal total
            deleted = await db.run_write(step, older_than=cutoff, batch=rows)
            total += deleted
            return deleted

        rows = await _batches(run, stopping, rows)
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
