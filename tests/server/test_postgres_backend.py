"""The PostgreSQL backend: NOTIFY after the commit (db.dialect.take_notifications) reaches
other connections once the write committed, never when it rolled back, once per payload,
whatever the payload's characters, and a failure to send never fails the write; the pool is
sized by the settings; a pooled connection the server dropped while idle is replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import AsyncAdaptedQueuePool

from dispatch_server.db import Database, dialect
from dispatch_server.db import tables as t
from dispatch_server.db._postgres import PostgresBackend
from dispatch_server.services import Services
from tests.conftest import fresh_database_url, make_settings
from tests.server.test_db import Boom, insert_workspace

pytestmark = pytest.mark.anyio

CHANNEL = "dispatch_test_channel"


@pytest.fixture
def postgres_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from fresh_database_url("postgresql", tmp_path_factory, request)


class Listener:
    """A LISTEN connection that notes each payload and whether the row it names was visible
    to a new read when the notification arrived (it must be: sent after the commit)."""

    def __init__(self, url: str) -> None:
        self.url = (
            sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self.heard: list[str] = []
        self.arrived = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self.conn = await asyncpg.connect(self.url)
        await self.conn.add_listener(CHANNEL, self._on_notify)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.heard.append(payload)
        self.arrived.set()

    async def heard_at_least(self, count: int) -> None:
        while len(self.heard) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)

    async def settle(self) -> None:
        await asyncio.sleep(0.3)  # long enough for anything sent to arrive on loopback


def notifying(payloads: list[str], fail: bool = False) -> Callable[[sa.Connection], str]:
    def write(conn: sa.Connection) -> str:
        workspace_id = insert_workspace(conn, "fail" if fail else "ok")
        dialect.notify(conn, CHANNEL, [workspace_id, *payloads])
        return workspace_id

    return write


async def test_sent_after_the_commit_and_seen_with_the_row(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        async with Listener(postgres_url) as listener:
            workspace_id = await db.run_write(notifying([]))
            await asyncio.wait_for(listener.arrived.wait(), 5)
            assert listener.heard == [workspace_id]
            visible = await db.run_read(
                lambda conn: conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(t.workspaces)
                    .where(t.workspaces.c.id == workspace_id)
                )
            )
            assert visible == 1
    finally:
        await db.dispose()


async def test_a_rolled_back_write_announces_nothing_and_leaves_nothing_behind(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    try:
        async with Listener(postgres_url) as listener:
            for _ in range(3):  # the pool hands the same connection back
                with pytest.raises(Boom):
                    await db.run_write(notifying(["left-behind"], fail=True))
            workspace_id = await db.run_write(lambda conn: insert_workspace(conn, "ok-plain"))
            await listener.settle()
            assert listener.heard == []
            assert workspace_id
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "payload",
    ["it's", "back\\slash", "E'x'", "'; SELECT pg_sleep(5); --", "ünïcödé ✉", "a\nb", "$$"],
)
async def test_payloads_arrive_as_written(postgres_url: str, payload: str) -> None:
    db = Database(postgres_url)
    try:
        async with Listener(postgres_url) as listener:
            workspace_id = await db.run_write(notifying([payload, payload]))
            await listener.settle()
            assert listener.heard == [workspace_id, payload]  # once each, in order
    finally:
        await db.dispose()


async def test_a_failed_send_does_not_fail_the_write(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(postgres_url)
    try:
        workspace_id = await db.run_write(notifying(["nul\x00byte"]))
        stored = await db.run_read(
            lambda conn: conn.scalar(
                sa.select(t.workspaces.c.name).where(t.workspaces.c.id == workspace_id)
            )
        )
        assert stored == "ok"
        assert "could not send 2 notifications" in caplog.text
    finally:
        await db.dispose()


async def test_the_pool_is_sized_by_the_settings(postgres_url: str) -> None:
    settings = make_settings(postgres_url, DISPATCH_DB_POOL_SIZE=3, DISPATCH_DB_MAX_OVERFLOW=1)
    services = await Services.open(settings, listen=False)
    pool = services.db._backend.engine.pool  # type: ignore[union-attr]
    assert isinstance(pool, AsyncAdaptedQueuePool)
    checked_out: list[int] = []

    def hold(conn: sa.Connection) -> None:
        checked_out.append(pool.checkedout())
        conn.execute(sa.text("SELECT pg_sleep(0.3)"))

    try:
        await asyncio.gather(*(services.db.run_read(hold) for _ in range(8)))
        assert max(checked_out) == 4  # 3 kept, 1 more under load; the others waited
        assert (pool.size(), pool.checkedin()) == (3, 3)
    finally:
        await services.close()


async def test_an_idle_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    db = Database(postgres_url)
    backend = db._backend
    assert isinstance(backend, PostgresBackend)
    backend.PING_AFTER_IDLE_SECONDS = 0.2
    admin = await asyncpg.connect(Listener(postgres_url).url)
    try:
        await asyncio.gather(
            *(db.run_read(lambda conn: conn.execute(sa.text("SELECT 1"))) for _ in range(3))
        )
        database = sa.make_url(postgres_url).database
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        assert dropped >= 1
        await asyncio.sleep(0.3)
        for _ in range(5):  # each checkout finds its dropped connection out, takes another
            assert await db.run_read(lambda conn: conn.scalar(sa.text("SELECT 41 + 1"))) == 42
            assert await db.run_short_read(lambda conn: conn.scalar(sa.text("SELECT 2"))) == 2
    finally:
        await admin.close()
        await db.dispose()


async def test_thousands_of_notifications_of_one_write_all_arrive(postgres_url: str) -> None:
    """More than a SELECT list can hold (1,664): an ingest to many inboxes notifies each."""
    db = Database(postgres_url)
    payloads = [f"inbox-{n}" for n in range(2000)]
    try:
        async with Listener(postgres_url) as listener:
            workspace_id = await db.run_write(notifying(payloads))
            await listener.heard_at_least(2001)
            assert listener.heard == [workspace_id, *payloads]
    finally:
        await db.dispose()


@pytest.mark.parametrize("payload", ["x" * 9000, "nul\x00byte"])
async def test_a_connection_whose_send_failed_is_not_used_again(
    postgres_url: str, payload: str
) -> None:
    """PostgreSQL refuses a payload over 8,000 bytes mid-batch, leaving the session in an
    aborted transaction: the one pooled connection must be replaced, not handed out."""
    db = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with Listener(postgres_url) as listener:
            for _ in range(3):
                assert await db.run_write(notifying([payload]))
                assert await db.run_short_read(lambda conn: conn.scalar(sa.text("SELECT 1"))) == 1
                assert await db.run_read(lambda conn: conn.scalar(sa.text("SELECT 2"))) == 2
            workspace_id = await db.run_write(notifying(["fine"]))
            await listener.settle()
            assert listener.heard[-2:] == [workspace_id, "fine"]
    finally:
        await db.dispose()
