"""Database.run_write: one transaction per job, even when SQLite batches jobs into one commit."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.ids import new_id
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.db._sqlite import SqliteBackend
from dispatch_server.migrations import upgrade

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


def insert_workspace(conn: sa.Connection, name: str) -> str:
    workspace_id = new_id()
    conn.execute(
        t.workspaces.insert(),
        {
            "id": workspace_id,
            "name": name,
            "status": "active",
            "plan": "free",
            "policy": {},
            "created_at": utcnow(),
        },
    )
    if name.startswith("fail"):
        raise Boom(name)  # after the insert: the job's own rollback must undo it
    return workspace_id


async def test_failing_jobs_roll_back_alone(db: Database) -> None:
    names = [f"fail-{i}" if i % 3 == 0 else f"ok-{i}" for i in range(60)]
    results = await asyncio.gather(
        *(db.run_write(insert_workspace, name) for name in names), return_exceptions=True
    )
    for name, result in zip(names, results, strict=True):
        if name.startswith("fail"):
            assert isinstance(result, Boom) and str(result) == name
        else:
            assert isinstance(result, str)
    stored = set(await db.run_read(lambda conn: list(conn.scalars(sa.select(t.workspaces.c.name)))))
    assert stored == {name for name in names if name.startswith("ok")}


async def test_results_come_back_after_commit(db: Database) -> None:
    workspace_id = await db.run_write(insert_workspace, "visible")
    other = Database(db.url)  # a separate engine sees only committed data
    try:
        name = await other.run_read(
            lambda conn: conn.scalar(
                sa.select(t.workspaces.c.name).where(t.workspaces.c.id == workspace_id)
            )
        )
    finally:
        await other.dispose()
    assert name == "visible"


async def test_sqlite_commits_are_durable(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}")
    try:
        pragmas = await db.run_write(
            lambda conn: (
                conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                conn.exec_driver_sql("PRAGMA synchronous").scalar(),
            )
        )
    finally:
        await db.dispose()
    assert pragmas == ("wal", 2)  # 2 = FULL: the WAL is synced at every commit


async def test_a_short_read_sees_what_was_committed(db: Database) -> None:
    await db.run_write(insert_workspace, "short-read")
    names = await db.run_short_read(lambda conn: list(conn.scalars(sa.select(t.workspaces.c.name))))
    assert "short-read" in names


async def test_a_batch_whose_begin_fails_fails_whole_and_at_once(tmp_path: Path) -> None:
    """BEGIN (or COMMIT) failing is no job's fault: every job of the batch gets that error,
    without each trying the same lock again alone (64 tries of a 10 s busy_timeout)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}"
    await upgrade(url)
    db = Database(url)
    backend = db._backend
    assert isinstance(backend, SqliteBackend)
    writer = backend._writer
    begins = 0
    real_begin = writer._begin

    def failing_begin() -> tuple[sa.Connection, sa.RootTransaction]:
        nonlocal begins
        begins += 1
        if begins == 1:  # the batch's BEGIN
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return real_begin()

    writer._begin = failing_begin  # type: ignore[method-assign]
    try:
        names = [f"ok-{i}" for i in range(5)]
        results = await asyncio.gather(
            *(db.run_write(insert_workspace, name) for name in names), return_exceptions=True
        )
        assert all(isinstance(r, sa.exc.OperationalError) for r in results), results
        assert begins == 1  # no job tried again alone
        assert isinstance(await db.run_write(insert_workspace, "after"), str)  # writes go on
    finally:
        await db.dispose()


def take_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR)  # it exists: the first write made it
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def test_writers_sharing_a_file_take_turns_by_the_kernel_lock(tmp_path: Path) -> None:
    """Processes sharing a SQLite file hand the write lock over through a lock file, so the
    next writer starts when the last one commits (SQLite's own wait sleeps and polls). Two
    Databases on one file stand for two processes: each opens the lock file itself."""
    path = tmp_path / "shared.db"
    url = f"sqlite:///{path}"
    await upgrade(url)
    lock_path = Path(f"{path}-writelock")
    first, second = Database(url), Database(url)
    try:
        await first.run_write(insert_workspace, "opens-the-lock-file")
        holder = take_lock(lock_path)  # another process is writing: it holds the lock
        write = asyncio.ensure_future(second.run_write(insert_workspace, "waits-its-turn"))
        await asyncio.sleep(0.3)
        assert not write.done()
        names = await first.run_short_read(
            lambda conn: list(conn.scalars(sa.select(t.workspaces.c.name)))
        )
        assert "waits-its-turn" not in names  # reads go on meanwhile
        os.close(holder)  # releases its lock
        assert isinstance(await asyncio.wait_for(write, 10), str)
        # Both keep writing, in any order, each its own transaction.
        await asyncio.gather(
            *(
                db.run_write(insert_workspace, f"{n}-{i}")
                for i in range(20)
                for n, db in (("a", first), ("b", second))
            )
        )
        count = await first.run_read(
            lambda conn: conn.scalar(sa.select(sa.func.count()).select_from(t.workspaces))
        )
        assert count == 42
    finally:
        await first.dispose()
        await second.dispose()


async def test_an_in_memory_database_has_no_lock_file(tmp_path: Path) -> None:
    from dispatch_server.db._sqlite import _lock_path

    assert _lock_path("sqlite:///:memory:") is None
    assert _lock_path("sqlite://") is None
    assert _lock_path(f"sqlite:///{tmp_path / 'x.db'}") == f"{tmp_path / 'x.db'}-writelock"
