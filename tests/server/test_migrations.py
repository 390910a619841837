"""Migrations produce exactly the schema the code describes, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.db.tables import metadata
from dispatch_server.migrations import current_revision, head_revision, upgrade

pytestmark = pytest.mark.anyio


async def test_migrated_schema_matches_the_code(database_url: str) -> None:
    engine = create_async_engine(database_url)

    def diff(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []
    assert await current_revision(database_url) == head_revision()


def test_the_head_is_the_newest_migration() -> None:
    assert head_revision() == "0017"


async def test_upgrade_is_idempotent(database_url: str) -> None:
    await upgrade(database_url)
    assert await current_revision(database_url) == head_revision()
