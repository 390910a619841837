"""The worker run in the test's event loop, on the inbound path that tests/aws.py sets up on
moto (the `inbound` fixture)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import sqlalchemy as sa

from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import workspaces
from dispatch_server.events.hub import Hub
from dispatch_server.services import Services
from dispatch_server.worker.consumer import Stats
from dispatch_server.worker.runner import run_worker
from tests.aws import MAX_ATTEMPTS, REGION, InboundAws, s3_event
from tests.conftest import make_settings

__all__ = ["MAX_ATTEMPTS", "REGION", "InboundAws", "s3_event"]

DOMAIN = "dispatch.test"


def worker_settings(database_url: str, inbound: InboundAws, **variables: object) -> Settings:
    values: dict[str, object] = {
        "DISPATCH_INBOX_DOMAIN": DOMAIN,
        "DISPATCH_SQS_QUEUE_URL": inbound.setup.queue_url,
        "DISPATCH_SES_INBOUND_S3_BUCKET": inbound.bucket,
        "DISPATCH_AWS_ENDPOINT_URL": inbound.url,
        "DISPATCH_AWS_REGION": REGION,
        "DISPATCH_WORKER_WAIT_SECONDS": 1,
        "DISPATCH_WORKER_MAX_ATTEMPTS": MAX_ATTEMPTS,
        "DISPATCH_WORKER_RETRY_SECONDS": 0,
        "DISPATCH_WORKER_HEARTBEAT_SECONDS": 0.2,
        "DISPATCH_WORKER_CONCURRENCY": 4,
    }
    values.update(variables)
    return make_settings(database_url, **values)


@attrs.define
class RunningWorker:
    services: Services
    stats: Stats
    stopping: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.wait_for(self.task, timeout=30)


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[RunningWorker]:
    db = Database(settings.storage.database_url)
    services = Services(settings=settings, db=db, hub=Hub())
    stats, stopping = Stats(), asyncio.Event()
    task = asyncio.create_task(run_worker(services, stopping, stats))
    worker = RunningWorker(services, stats, stopping, task)
    try:
        yield worker
    finally:
        if not task.done():
            await worker.stop()
        await services.close()


async def until(check: Callable[[], Any], *, seconds: float = 20.0, what: str = "") -> None:
    """Wait until `check()` (sync or async) is true."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


async def new_inbox(db: Database, local_part: str) -> str:
    signed_up = await db.run_write(
        workspaces.signup, domain=DOMAIN, name=None, local_part=local_part
    )
    return signed_up.inbox.address


async def rows(db: Database, query: sa.Select[Any]) -> list[Any]:
    return await db.run_read(lambda conn: list(conn.execute(query)))


async def stored(db: Database) -> list[Any]:
    return await rows(
        db,
        sa.select(
            t.messages.c.provider_message_id,
            t.messages.c.door,
            t.messages.c.subject,
            t.messages.c.mail_from,
            t.inboxes.c.address,
        )
        .join(t.inboxes, t.inboxes.c.id == t.messages.c.inbox_id)
        .order_by(t.messages.c.received_at),
    )


async def rejections(db: Database) -> list[Any]:
    table = t.inbound_rejections
    return await rows(db, sa.select(table).order_by(table.c.created_at))
