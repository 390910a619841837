"""Alembic migrations. `dispatch-server migrate` runs them; serve and worker never do."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.db.urls import database_url as normalize_database_url

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_database_url(database_url))
    return config


async def upgrade(database_url: str, revision: str = "head") -> None:
    url = normalize_database_url(database_url)
    engine = create_async_engine(url)
    config = alembic_config(url)

    def run(connection: sa.Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        # Not in a transaction: Alembic runs each migration in one of its own, and a migration
        # can build an index outside any (CREATE INDEX CONCURRENTLY on PostgreSQL).
        async with engine.connect() as conn:
            await conn.run_sync(run)
            await conn.commit()
    finally:
        await engine.dispose()


async def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_async_engine(normalize_database_url(database_url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    """The revision the code expects the database to be at."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head: str | None = script.get_current_head()
    return head
