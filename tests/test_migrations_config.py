"""Migrations produce exactly the schema the code describes; config reads the environment."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.config import ConfigError, Settings
from dispatch_server.migrations import current_revision, upgrade
from dispatch_server.schema import metadata

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
    assert await current_revision(database_url) == "0001"


async def test_upgrade_is_idempotent(database_url: str) -> None:
    await upgrade(database_url)
    assert await current_revision(database_url) == "0001"


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///./dispatch.db"
    assert settings.env == "development"
    assert settings.inbound_token is None


def test_plain_urls_get_async_drivers() -> None:
    assert Settings.from_env({"DATABASE_URL": "postgresql://u@h/db"}).database_url == (
        "postgresql+asyncpg://u@h/db"
    )
    assert Settings.from_env({"DATABASE_URL": "sqlite:///x.db"}).database_url == (
        "sqlite+aiosqlite:///x.db"
    )


def test_production_names_every_missing_value() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISPATCH_ENV": "production", "DATABASE_URL": "postgresql://h/db"})
    message = str(caught.value)
    for name in ("JWT_SECRET_KEY", "DISPATCH_INBOX_DOMAIN", "DISPATCH_APP_BASE_URL"):
        assert name in message
    assert "DATABASE_URL" not in message


def test_bad_values_are_all_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {
                "DISPATCH_SMTP_PORT": "twenty",
                "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE": "maybe",
                "DISPATCH_DAILY_INBOUND_QUOTA": "-3",
            }
        )
    message = str(caught.value)
    assert "DISPATCH_SMTP_PORT" in message
    assert "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE" in message
    assert "DISPATCH_DAILY_INBOUND_QUOTA" in message
    with pytest.raises(ConfigError):
        Settings.from_env({"DISPATCH_ENV": "staging"})


def test_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "DISPATCH_INBOX_DOMAIN": "Mail.Example.COM",
            "DISPATCH_INBOUND_TOKEN": "tok",
            "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE": "true",
            "DISPATCH_MESSAGE_RETENTION_DAYS": "7",
        }
    )
    assert settings.inbox_domain == "mail.example.com"
    assert settings.inbound_token == "tok"
    assert settings.enforce_multi_inbox_upgrade is True
    assert settings.message_retention_days == 7
