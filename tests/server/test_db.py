"""Database.run_write: one transaction per job, even when SQLite batches jobs into one commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.ids import new_id
from dispatch_server.db import Database
from dispatch_server.db import tables as t

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
