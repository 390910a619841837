"""Worker heartbeats (`dispatch_worker_heartbeats`): each `dispatch-server worker` process
writes its row every DISPATCH_WORKER_HEARTBEAT_SECONDS; the ops status reads them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import attrs
import sqlalchemy as sa

from dispatch_server.db import tables as t

_T = t.worker_heartbeats
Liveness = Literal["live", "stale", "stopped"]
# Rows of workers gone this long are deleted by the next worker to start or beat.
FORGOTTEN_AFTER = timedelta(days=7)


@attrs.frozen(kw_only=True)
class Beat:
    worker_id: str
    processed: int
    failed: int
    queue_lag_seconds: float | None


@attrs.frozen(kw_only=True)
class WorkerState:
    worker_id: str
    host: str
    pid: int
    started_at: datetime
    last_beat_at: datetime
    stopped_at: datetime | None
    processed: int
    failed: int
    queue_lag_seconds: float | None
    liveness: Liveness


def register(conn: sa.Connection, worker_id: str, host: str, pid: int, now: datetime) -> None:
    conn.execute(_T.delete().where(_T.c.last_beat_at < now - FORGOTTEN_AFTER))
    conn.execute(
        _T.insert().values(
            worker_id=worker_id,
            host=host[:255],
            pid=pid,
            started_at=now,
            last_beat_at=now,
            stopped_at=None,
            processed=0,
            failed=0,
            queue_lag_seconds=None,
        )
    )


def beat(conn: sa.Connection, beat: Beat, now: datetime, *, stopped: bool = False) -> None:
    conn.execute(
        _T.update()
        .where(_T.c.worker_id == beat.worker_id)
        .values(
            last_beat_at=now,
            processed=beat.processed,
            failed=beat.failed,
            queue_lag_seconds=beat.queue_lag_seconds,
            **({"stopped_at": now} if stopped else {}),
        )
    )


def workers(conn: sa.Connection, now: datetime, stale_after: timedelta) -> list[WorkerState]:
    """Every worker heard from in the last FORGOTTEN_AFTER, the newest first: `stopped`
    after a graceful stop, `stale` when its last beat is older than `stale_after` (it died,
    or cannot reach the database), else `live`."""
    rows = conn.execute(
        sa.select(_T)
        .where(_T.c.last_beat_at >= now - FORGOTTEN_AFTER)
        .order_by(_T.c.started_at.desc(), _T.c.worker_id)
    )
    found = []
    for row in rows:
        liveness: Liveness = "live"
        if row.stopped_at is not None:
            liveness = "stopped"
        elif now - row.last_beat_at > stale_after:
            liveness = "stale"
        found.append(
            WorkerState(
                worker_id=row.worker_id,
                host=row.host,
                pid=row.pid,
                started_at=row.started_at,
                last_beat_at=row.last_beat_at,
                stopped_at=row.stopped_at,
                processed=row.processed,
                failed=row.failed,
                queue_lag_seconds=row.queue_lag_seconds,
                liveness=liveness,
            )
        )
    return found
