"""Send lists at each outbox attempt, on both databases, through the `smtp` transport to a
real relay (relay_server.py): an entry added while a send is queued stops it for the
recipients it refuses, on the first attempt and on a retry, and the send ends `blocked`
when it refuses them all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dispatch_server.config import Outbound
from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import inboxes, lists, sends, workspaces
from dispatch_server.outbound.outbox import Outbox
from dispatch_server.outbound.transports.smtp import SmtpTransport
from tests.server.outbound.conftest import free_port
from tests.server.outbound.test_smtp_transport import Relay

pytestmark = pytest.mark.anyio


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    started = Relay(tmp_path, {"security": "none"})
    yield started
    started.stop()


def _transport(port: int) -> SmtpTransport:
    return SmtpTransport(
        host="127.0.0.1",
        port=port,
        security="none",
        username=None,
        password=None,
        ca_file=None,
        timeout=5.0,
        ehlo_name="dispatch.test",
    )


@pytest.fixture
async def outbox(db: Database, relay: Relay) -> AsyncIterator[Outbox]:
    made = Outbox(db, _transport(relay.port), Outbound(max_attempts=5))
    yield made
    await made.close()


async def _inbox(db: Database, local_part: str) -> sends.Sender:
    signup = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=local_part
    )
    return await db.run_read(sends.sender_of, signup.inbox.workspace_id, signup.inbox.id)


async def _queue(db: Database, sender: sends.Sender, *to: str, cc: tuple[str, ...] = ()) -> str:
    fields = sends.SendFields(to=to, cc=cc, subject="queued", text="Code 424242")
    draft = sends.draft(sender, fields, None, max_recipients=50, max_attachment_bytes=1024)
    queued = await db.run_write(
        sends.queue, draft, provider="smtp", now=utcnow(), send_limit=100, recipient_limit=100
    )
    return queued.id


async def _entry(
    db: Database,
    sender: sends.Sender,
    raw: str,
    *,
    action: lists.Action = "block",
    direction: lists.Direction = "send",
    inbox_id: str | None = None,
) -> None:
    await db.run_write(
        lists.add,
        sender.workspace_id,
        inbox_id=inbox_id,
        direction=direction,
        action=action,
        raw_pattern=raw,
        now=utcnow(),
    )


async def _sent(db: Database, sender: sends.Sender, send_id: str) -> sends.SentMessage:
    return await db.run_read(sends.get_sent, sender.inbox_id, send_id)


async def _logged(db: Database, workspace_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await db.run_read(
        lambda conn: conn.execute(
            sa.select(t.events.c.type, t.events.c.payload)
            .where(t.events.c.workspace_id == workspace_id)
            .order_by(t.events.c.seq)
        ).all()
    )
    return [(row.type, dict(row.payload)) for row in rows]


def _delivered_to(relay: Relay) -> list[list[str]]:
    return [message["recipients"] for message in relay.messages()]


async def test_a_recipient_blocked_while_queued_is_left_out_and_the_rest_get_it(
    db: Database, relay: Relay, outbox: Outbox
) -> None:
    sender = await _inbox(db, "from")
    send_id = await _queue(db, sender, "Ann@Blocked.Example", cc=("bob@fine.example",))
    await _entry(db, sender, "blocked.example")

    await outbox.hand_over(send_id)

    assert _delivered_to(relay) == [["bob@fine.example"]]
    sent = await _sent(db, sender, send_id)
    assert sent.status == "sent"
    blocked = [e for e in sent.events if e.type == "blocked"]
    assert [(e.recipients, e.detail) for e in blocked] == [
        (("ann@blocked.example",), {"reason": sends.BLOCKED_REASON})
    ]
    assert [e.type for e in sent.events] == ["queued", "blocked", "sent"]


async def test_a_send_whose_recipients_are_all_blocked_ends_blocked_with_an_event(
    db: Database, relay: Relay, outbox: Outbox
) -> None:
    sender = await _inbox(db, "from")
    send_id = await _queue(db, sender, "ann@mail.blocked.example", "bob@x.example")
    await _entry(db, sender, "*.blocked.example", inbox_id=sender.inbox_id)
    await _entry(db, sender, "bob@x.example")

    await outbox.hand_over(send_id)

    assert relay.messages() == [] and "MAIL" not in relay.commands()
    sent = await _sent(db, sender, send_id)
    assert sent.status == "blocked"
    assert sent.last_error == sends.BLOCKED_REASON
    assert sent.next_attempt_at is None and sent.sent_at is None
    assert [e.type for e in sent.events] == ["queued", "blocked"]
    assert sent.events[-1].recipients == ("ann@mail.blocked.example", "bob@x.example")
    failed = [p for kind, p in await _logged(db, sender.workspace_id) if kind == "message.failed"]
    assert failed == [
        {
            "inbox_id": sender.inbox_id,
            "sent_id": send_id,
            "recipients": ["ann@mail.blocked.example", "bob@x.example"],
            "status": "blocked",
            "detail": {"reason": sends.BLOCKED_REASON},
        }
    ]
    # Final: the loop never picks it up again.
    assert await outbox.run_due() == 0
    assert await db.run_write(sends.claim, send_id, utcnow(), outbox.lease, due_only=False) is None


async def test_a_block_added_between_attempts_stops_the_retry(
    db: Database, relay: Relay, outbox: Outbox
) -> None:
    sender = await _inbox(db, "from")
    send_id = await _queue(db, sender, "ann@later.example")
    closed = Outbox(db, _transport(free_port()), Outbound(max_attempts=5))
    try:
        await closed.hand_over(send_id)  # nothing listens: transient, queued again
    finally:
        await closed.close()
    first = await _sent(db, sender, send_id)
    assert first.status == "queued" and first.events[-1].type == "deferred"
    await _entry(db, sender, "ann@LATER.example")
    await db.run_write(
        lambda conn: conn.execute(
            t.outbound_messages.update()
            .where(t.outbound_messages.c.id == send_id)
            .values(next_attempt_at=utcnow())
        )
    )

    assert await outbox.run_due() == 1

    assert relay.messages() == []
    sent = await _sent(db, sender, send_id)
    assert sent.status == "blocked" and sent.attempts == 2
    assert [e.type for e in sent.events] == ["queued", "deferred", "blocked"]


async def test_allow_list_mode_begun_while_queued_refuses_the_others_but_never_itself(
    db: Database, relay: Relay, outbox: Outbox
) -> None:
    sender = await _inbox(db, "from")
    send_id = await _queue(
        db, sender, "ann@partner.example", "eve@other.example", sender.address.upper()
    )
    await _entry(db, sender, "partner.example", action="allow", inbox_id=sender.inbox_id)

    await outbox.hand_over(send_id)

    assert _delivered_to(relay) == [["ann@partner.example", sender.address]]
    sent = await _sent(db, sender, send_id)
    assert sent.status == "sent"
    [blocked] = [e for e in sent.events if e.type == "blocked"]
    assert blocked.recipients == ("eve@other.example",)


async def test_entries_that_do_not_apply_to_the_sending_inbox_change_nothing(
    db: Database, relay: Relay, outbox: Outbox
) -> None:
    sender, other = await _inbox(db, "from"), await _inbox(db, "elsewhere")
    send_id = await _queue(db, sender, "ann@x.example")
    await _entry(db, other, "x.example")  # another workspace's
    await _entry(db, sender, "x.example", direction="receive")  # receiving, not sending
    sibling = await db.run_write(
        lambda conn: inboxes.insert_inbox(
            conn,
            workspace_id=sender.workspace_id,
            agent_id=conn.scalar(
                sa.select(t.inboxes.c.agent_id).where(t.inboxes.c.id == sender.inbox_id)
            ),
            domain="dispatch.test",
            local_part="sibling",
            display_name=None,
        )
    )
    await _entry(db, sender, "x.example", inbox_id=sibling.id)  # another inbox's

    await outbox.hand_over(send_id)

    assert _delivered_to(relay) == [["ann@x.example"]]
    assert (await _sent(db, sender, send_id)).status == "sent"
