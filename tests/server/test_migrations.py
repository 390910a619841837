"""Migrations produce exactly the schema the code describes, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.db.tables import metadata
from dispatch_server.db.urls import database_url as normalize_database_url
from dispatch_server.domain import sends, workspaces
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.migrations import current_revision, head_revision, upgrade
from dispatch_server.services import Services
from tests.helpers import make_mail

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
    assert head_revision() == "0018"


async def test_upgrade_is_idempotent(database_url: str) -> None:
    await upgrade(database_url)
    assert await current_revision(database_url) == head_revision()


async def _downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    from dispatch_server.migrations import alembic_config

    engine = create_async_engine(database_url)
    config = alembic_config(database_url)

    def run(connection: sa.Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    try:
        async with engine.connect() as conn:
            await conn.run_sync(run)
            await conn.commit()
    finally:
        await engine.dispose()


async def test_0015_threads_the_mail_stored_before_it(services: Services) -> None:
    """Received mail gets a thread each, a sent reply its parent's, another send its own,
    memory writes none; their Message-IDs are registered, so a new reply joins."""
    database_url = normalize_database_url(services.settings.storage.database_url)
    db = services.db
    signed = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part="backfill"
    )
    inbox = signed.inbox

    async def receive(message_id: str, subject: str) -> str:
        raw = make_mail(inbox.address, subject=subject, message_id=message_id)
        result = await ingest(services, raw, Envelope((inbox.address,), door="webhook"))
        return result.deliveries[0].message_id

    first = await receive("<first@acme.test>", "First")
    second = await receive("<second@acme.test>", "Second")

    def send(conn: sa.Connection, subject: str, in_reply_to: str | None, to: str) -> str:
        sender = sends.sender_of(conn, inbox.workspace_id, inbox.id)
        thread = (
            None
            if in_reply_to is None
            else sends.thread_of(conn, inbox.id, in_reply_to, param="in_reply_to")
        )
        fields = sends.SendFields(to=(to,), subject=subject, text="x", in_reply_to=in_reply_to)
        draft = sends.draft(sender, fields, thread, max_recipients=50, max_attachment_bytes=1000)
        queued = sends.queue(
            conn, draft, provider="local", now=utcnow(), send_limit=100, recipient_limit=100
        )
        return queued.id

    reply = await db.run_write(send, "Re: First", first, "ann@acme.test")
    fresh = await db.run_write(send, "Fresh", None, "bob@acme.test")
    memory = await db.run_write(send, "a note", None, inbox.address)
    await db.dispose()  # no connection (nor statement cache) from before the change
    await _downgrade(database_url, "0014")
    await upgrade(database_url)
    db = Database(database_url)
    services = attrs.evolve(services, db=db)

    def threads_of(conn: sa.Connection) -> dict[str, str | None]:
        found = {
            **{r.id: r.thread_id for r in conn.execute(sa.select(t.messages))},
            **{r.id: r.thread_id for r in conn.execute(sa.select(t.outbound_messages))},
        }
        return found

    found = await db.run_read(threads_of)
    assert found[first] == first and found[second] == second
    assert found[reply] == first and found[fresh] == fresh and found[memory] is None
    answer = make_mail(
        inbox.address,
        subject="Re: Re: First",
        headers={
            "In-Reply-To": (await db.run_read(sends.get_sent, inbox.id, reply)).message_id_header
        },
    )
    try:
        result = await ingest(services, answer, Envelope((inbox.address,), door="webhook"))
        assert (await db.run_read(threads_of))[result.deliveries[0].message_id] == first
    finally:
        await db.dispose()
