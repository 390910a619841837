"""The retention purge on SQLite and PostgreSQL: mail past the window goes, with its raw MIME,
verdicts and artifacts, in bounded batches; sent mail (never a queued send) and old records
go too; what was purged is still counted publicly; the worker runs it by itself."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.ids import new_id
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import inbound_rejections, ops, retention, workspaces
from dispatch_server.domain.inbound_rejections import Rejection
from dispatch_server.events.hub import Hub
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.services import Services
from dispatch_server.worker import retention as worker_retention
from dispatch_server.worker.retention import next_batch, purge
from tests.aws import InboundAws
from tests.conftest import make_settings
from tests.helpers import make_mail
from tests.server.worker.conftest import running_worker, until, worker_settings

pytestmark = pytest.mark.anyio

DOMAIN = "dispatch.test"
WINDOW = timedelta(days=30)


async def count(db: Database, table: sa.Table, *where: Any) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(*where)
    return int(await db.run_read(lambda conn: conn.scalar(query)) or 0)


async def age(db: Database, message_id: str, days: int) -> None:
    """Make a stored message (and its artifacts) `days` old."""
    when = utcnow() - timedelta(days=days)

    def backdate(conn: sa.Connection) -> None:
        conn.execute(
            t.messages.update().where(t.messages.c.id == message_id).values(received_at=when)
        )
        conn.execute(
            t.artifacts.update()
            .where(t.artifacts.c.message_id == message_id)
            .values(received_at=when)
        )

    await db.run_write(backdate)


async def deliver(services: Services, to: str, door: Any, text: str) -> str:
    result = await ingest(services, make_mail(to, text=text), Envelope((to,), door=door))
    return result.deliveries[0].message_id


def sent_row(workspace_id: str, inbox_id: str, status: str, days: int) -> dict[str, Any]:
    when = utcnow() - timedelta(days=days)
    return {
        "id": new_id(),
        "workspace_id": workspace_id,
        "inbox_id": inbox_id,
        "from_address": "a@dispatch.test",
        "to_addresses": ["b@example.com"],
        "cc_addresses": [],
        "bcc_addresses": [],
        "reply_to": [],
        "subject": "s",
        "headers": {},
        "attachments": [],
        "raw_mime": b"x",
        "message_id_header": f"<{new_id()}@dispatch.test>",
        "status": status,
        "provider": "local",
        "attempts": 1,
        "created_at": when,
        "updated_at": when,
    }


async def test_old_mail_goes_with_everything_of_it_in_bounded_batches(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr("dispatch_server.worker.retention.BATCH", 2)
    settings = make_settings(database_url, DISPATCH_INBOX_DOMAIN=DOMAIN)
    async with Services(settings=settings, db=Database(database_url), hub=Hub()) as services:
        db = services.db
        signed_up = await db.run_write(
            workspaces.signup, domain=DOMAIN, name=None, local_part="ret"
        )
        inbox = signed_up.inbox
        old = [
            await deliver(services, inbox.address, door, f"Your code is {100000 + n}")
            for n, door in enumerate(["webhook", "webhook", "smtp", "ses_sqs", None])
        ]
        fresh = await deliver(services, inbox.address, "ses_sns", "Your code is 999999")
        for message_id in old:
            await age(db, message_id, 31)
        before = await db.run_read(ops.public_counters)
        assert before.otps_extracted == 6

        now = utcnow()
        await db.run_write(
            lambda conn: conn.execute(
                t.outbound_messages.insert(),
                [
                    sent_row(inbox.workspace_id, inbox.id, "sent", 40),
                    sent_row(inbox.workspace_id, inbox.id, "delivered", 31),
                    sent_row(inbox.workspace_id, inbox.id, "queued", 40),  # never purged
                    sent_row(inbox.workspace_id, inbox.id, "sent", 1),
                ],
            )
        )
        for days in (31, 31, 1):
            await db.run_write(
                inbound_rejections.record,
                Rejection(door="ses_sqs", reason="unknown_recipient"),
                now - timedelta(days=days),
            )

        purged = await purge(db, now - WINDOW)
        assert (purged.messages, purged.otps, purged.sent, purged.other) == (5, 5, 2, 2)
        assert [
            row.id
            for row in await db.run_read(lambda c: list(c.execute(sa.select(t.messages.c.id))))
        ] == [fresh]
        assert await count(db, t.artifacts) == 1
        assert await count(db, t.message_security) == 1
        assert await count(db, t.outbound_messages) == 2
        assert await count(db, t.outbound_messages, t.outbound_messages.c.status == "queued") == 1
        assert await count(db, t.inbound_rejections) == 1
        # The public counters still count what was purged.
        assert await db.run_read(ops.public_counters) == before
        assert (await purge(db, now - WINDOW)).total == 0


def test_a_slow_batch_halves_the_next_and_a_quick_one_doubles_it() -> None:
    slow, quick = worker_retention.BATCH_SECONDS * 2, worker_retention.BATCH_SECONDS / 4
    assert next_batch(500, slow, 500) == 250
    assert next_batch(worker_retention.MIN_BATCH, slow, 500) == worker_retention.MIN_BATCH
    assert next_batch(250, quick, 500) == 500
    assert next_batch(500, quick, 500) == 500
    assert next_batch(300, worker_retention.BATCH_SECONDS * 0.75, 500) == 300


async def test_a_purge_whose_batches_are_slow_takes_smaller_ones(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded in time too: on SQLite an ingest waits for the purge transaction's commit."""
    monkeypatch.setattr(worker_retention, "BATCH", 8)
    monkeypatch.setattr(worker_retention, "MIN_BATCH", 2)
    monkeypatch.setattr(worker_retention, "BATCH_SECONDS", 0.0)  # every batch is too slow
    limits: list[int] = []
    after_it: list[int] = []  # the steps after the webhook door's start where it ended
    purge_messages = retention.purge_messages

    def recorded(conn: sa.Connection, cutoff: Any, door: Any, limit: int | None = None) -> Any:
        if door == "webhook":
            limits.append(limit or 0)
        elif limits:
            after_it.append(limit or 0)
        return purge_messages(conn, cutoff, door, limit)

    monkeypatch.setattr(retention, "purge_messages", recorded)
    settings = make_settings(database_url, DISPATCH_INBOX_DOMAIN=DOMAIN)
    async with Services(settings=settings, db=Database(database_url), hub=Hub()) as services:
        db = services.db
        signed_up = await db.run_write(
            workspaces.signup, domain=DOMAIN, name=None, local_part="slow"
        )
        for n in range(12):
            message_id = await deliver(services, signed_up.inbox.address, "webhook", f"c {n}")
            await age(db, message_id, 31)
        purged = await purge(db, utcnow() - WINDOW)
        assert purged.messages == 12
        assert limits == [8, 4, 2]  # 8 deleted, then 4, then none left
        assert after_it and set(after_it) == {2}  # the size learnt is kept, not reset to 8
        assert await count(db, t.messages) == 0


async def test_concurrent_purges_count_each_message_once(database_url: str) -> None:
    settings = make_settings(database_url, DISPATCH_INBOX_DOMAIN=DOMAIN)
    async with Services(settings=settings, db=Database(database_url), hub=Hub()) as services:
        db = services.db
        signed_up = await db.run_write(
            workspaces.signup, domain=DOMAIN, name=None, local_part="twice"
        )
        ids = [
            await deliver(services, signed_up.inbox.address, "webhook", f"code {200000 + n}")
            for n in range(12)
        ]
        for message_id in ids:
            await age(db, message_id, 31)
        other = Database(database_url)
        try:
            results = await asyncio.gather(
                purge(db, utcnow() - WINDOW), purge(other, utcnow() - WINDOW)
            )
        finally:
            await other.dispose()
        assert sum(r.messages for r in results) == 12
        purged = await db.run_read(
            lambda conn: conn.scalar(
                sa.select(t.purged_counts.c.count).where(t.purged_counts.c.kind == "messages")
            )
        )
        assert purged == 12


async def test_the_worker_purges_by_itself(database_url: str, inbound: InboundAws) -> None:
    settings = worker_settings(
        database_url,
        inbound,
        DISPATCH_MESSAGE_RETENTION_DAYS=1,
        DISPATCH_RETENTION_PURGE_SECONDS=1,
    )
    async with running_worker(settings) as worker:
        db = worker.services.db
        signed_up = await db.run_write(
            workspaces.signup, domain=DOMAIN, name=None, local_part="auto"
        )
        message_id = await deliver(worker.services, signed_up.inbox.address, "webhook", "hi")
        await age(db, message_id, 2)

        async def gone() -> bool:
            return await count(db, t.messages) == 0

        await until(gone, what="the purge")


async def test_one_purge_drains_every_idle_thread_not_one_batch(database_url: str) -> None:
    """Threads are no mail (never in the public counters), but their deletes count towards
    the batch being full: 1,500 idle threads (three batches) all go in one purge."""
    settings = make_settings(database_url, DISPATCH_INBOX_DOMAIN=DOMAIN)
    async with Services(settings=settings, db=Database(database_url), hub=Hub()) as services:
        db = services.db
        inbox = (
            await db.run_write(workspaces.signup, domain=DOMAIN, name=None, local_part="idle")
        ).inbox
        when = utcnow() - timedelta(days=40)
        ids = [new_id() for _ in range(3 * retention.BATCH)]

        def insert(conn: sa.Connection) -> None:
            conn.execute(
                t.threads.insert(),
                [
                    {
                        "id": thread_id,
                        "workspace_id": inbox.workspace_id,
                        "inbox_id": inbox.id,
                        "subject_key": "idle",
                        "created_at": when,
                        "last_activity_at": when,
                    }
                    for thread_id in ids
                ],
            )
            conn.execute(
                t.thread_refs.insert(),
                [
                    {"inbox_id": inbox.id, "message_id_header": f"<{n}@x>", "thread_id": thread_id}
                    for n, thread_id in enumerate(ids)
                ],
            )

        await db.run_write(insert)
        before = await db.run_read(ops.public_counters)
        purged = await purge(db, utcnow() - WINDOW)
        assert purged.threads == len(ids)
        assert await count(db, t.threads) == 0
        assert await count(db, t.thread_refs) == 0
        assert await db.run_read(ops.public_counters) == before
