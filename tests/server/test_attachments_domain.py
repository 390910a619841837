"""The attachments' domain functions on SQLite and PostgreSQL: who finds them (inbox,
retention, senders), the byte ranges `substr` reads on either database (edges and past the
end), a message deleted during a download, and the whole-message read."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import attrs
import pytest
import sqlalchemy as sa

from dispatch_server.core.errors import NotFound
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import attachments, messages
from tests.conftest import LiveServer
from tests.server.api.test_attachments import Inbox, mail

pytestmark = pytest.mark.anyio
CUTOFF = datetime(2000, 1, 1, tzinfo=UTC)
DATA = os.urandom(5000)
LIMITS = {"max_parts": 200, "max_depth": 10}


async def test_finding_reading_ranges_and_deletion(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    parts = [
        {"data": DATA, "more": {"filename": "d.bin"}},
        {"data": b"", "more": {"filename": "empty"}},
    ]
    message_id = inbox.receive(mail(inbox.address, parts, sender="Bot@Acme.test"))
    other = Inbox(live_server)
    db = Database(live_server.database_url)
    try:
        found = await db.run_read(attachments.list_attachments, inbox.id, message_id, cutoff=CUTOFF)
        assert [(a.id, a.filename, a.size_bytes) for a in found] == [
            (0, "d.bin", len(DATA)),
            (1, "empty", 0),
        ]
        assert all(a.ranged for a in found)
        for senders in (None, ("*@acme.test",), ("bot@acme.test",)):
            got = await db.run_read(
                attachments.get_attachment, inbox.id, message_id, 0, cutoff=CUTOFF, senders=senders
            )
            assert got == found[0]
        refusals = [
            (other.id, message_id, 0, CUTOFF, None, "message"),  # another inbox
            (inbox.id, "0" * 36, 0, CUTOFF, None, "message"),
            (inbox.id, message_id, 0, datetime.now(UTC) + timedelta(days=1), None, "message"),
            (inbox.id, message_id, 0, CUTOFF, ("*@github.com",), "message"),
            (inbox.id, message_id, 2, CUTOFF, None, "attachment"),
            (inbox.id, message_id, -1, CUTOFF, None, "attachment"),
            (inbox.id, message_id, 10**9, CUTOFF, None, "attachment"),
        ]
        for inbox_id, msg, position, cutoff, senders, what in refusals:
            with pytest.raises(NotFound, match=what):
                await db.run_read(
                    attachments.get_attachment,
                    inbox_id,
                    msg,
                    position,
                    cutoff=cutoff,
                    senders=senders,
                )

        raw = await db.run_read(messages.get_raw, inbox.id, message_id, cutoff=CUTOFF)
        first = found[0]
        assert first.start is not None and first.length is not None
        for start, length in [
            (first.start, first.length),
            (0, 1),
            (len(raw) - 1, 10),  # past the end: what there is
            (len(raw), 10),
            (len(raw) + 10**6, 10),
        ]:
            chunk = await db.run_read(attachments.read_range, inbox.id, message_id, start, length)
            assert chunk == raw[start : start + length], (start, length)
        assert await db.run_read(attachments.read_range, other.id, message_id, 0, 10) is None

        legacy = attrs.evolve(first, encoding=None, start=None, length=None)
        whole = await db.run_read(attachments.read_whole, inbox.id, legacy, **LIMITS)
        assert whole == DATA
        with pytest.raises(NotFound, match="attachment"):
            await db.run_read(
                attachments.read_whole, inbox.id, attrs.evolve(legacy, id=5), **LIMITS
            )

        # As the retention purge deletes it (its rows go with it).
        await db.run_write(
            lambda conn: conn.execute(sa.delete(t.messages).where(t.messages.c.id == message_id))
        )
        assert await db.run_read(attachments.read_range, inbox.id, message_id, 0, 10) is None
        with pytest.raises(NotFound, match="message"):
            await db.run_read(attachments.read_whole, inbox.id, legacy, **LIMITS)
    finally:
        await db.dispose()
