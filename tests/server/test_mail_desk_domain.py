"""The mail desk's domain rules on SQLite and PostgreSQL: substring search with LIKE's
wildcards taken literally and hostile text harmless, read state, and one-time form nonces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import NotFound
from dispatch_server.db import Database
from dispatch_server.domain import form_nonces, messages, operators
from tests.conftest import LiveServer
from tests.helpers import InboxClient

pytestmark = pytest.mark.anyio
CUTOFF = datetime(2000, 1, 1, tzinfo=UTC)


async def test_search_read_state_and_nonces(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "desk-domain")
    first = inbox.deliver(subject="Invoice 42", text="pay 100% now", **{"from": "Bill <b@x.test>"})
    second = inbox.deliver(subject="Weekly_news", text="Grüße", **{"from": "news@other.test"})
    db = Database(live_server.database_url)
    try:

        async def found(query: str) -> list[str]:
            got = await db.run_read(messages.search, inbox.id, query, limit=10, cutoff=CUTOFF)
            return [summary.id for summary in got]

        assert await found("") == [second, first]  # newest first
        assert await found("INVOICE") == [first]
        assert await found("other.test") == [second]
        assert await found("bill") == [first]
        assert await found("100%") == [first]
        assert await found("%") == [first]
        assert await found("_") == [second]
        assert await found("y_n") == [second]
        assert await found("e_k") == []  # "Weekly" had _ been a wildcard
        assert await found("0%n") == []
        assert await found("Grüße") == [second]
        for hostile in ("x" * 10_000, "a\x00b", "'; DROP TABLE messages; --", "\\"):
            assert await found(hostile) == []
        assert await found("\ud800") == [second, first]  # nothing left to look for
        assert messages.search_text("x" * 500) == "x" * messages.MAX_QUERY_CHARS

        listed = await db.run_read(messages.search, inbox.id, "", limit=10, cutoff=CUTOFF)
        assert all(summary.unread for summary in listed)
        now = utcnow()
        assert await db.run_write(messages.mark_read, inbox.id, first, now) is True
        assert await db.run_write(messages.mark_read, inbox.id, first, now) is False
        listed = await db.run_read(messages.search, inbox.id, "", limit=10, cutoff=CUTOFF)
        assert {s.id: s.unread for s in listed} == {first: False, second: True}
        await db.run_write(messages.mark_unread, inbox.id, first)
        listed = await db.run_read(messages.search, inbox.id, "", limit=10, cutoff=CUTOFF)
        assert all(summary.unread for summary in listed)
        with pytest.raises(NotFound):
            await db.run_write(messages.mark_unread, "0" * 36, first)

        operator = await db.run_write(
            operators.create_operator,
            email=f"desk-{first[:8]}@x.test",
            password_hash="not a real hash",
            invite_code=None,
            invite_required=False,
            env_invite_code=None,
            now=now,
        )
        nonce = form_nonces.new_nonce()
        assert form_nonces.is_nonce(nonce) and not form_nonces.is_nonce("short")
        assert await db.run_write(form_nonces.use, nonce, operator.id, now=now) is True
        assert await db.run_write(form_nonces.use, nonce, operator.id, now=now) is False
        await db.run_write(form_nonces.give_back, nonce, operator.id)
        later = now + timedelta(seconds=1)
        assert await db.run_write(form_nonces.use, nonce, operator.id, now=later) is True
    finally:
        await db.dispose()
