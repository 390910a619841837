"""The outbox on both databases: a send committed but never handed over is picked up, a claim
that died mid-call is handed over again and still arrives once, transient failures are
retried with backoff until the last attempt, permanent ones end the send. The failing
provider is SES (moto in server mode, or a closed port), never a stand-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dispatch_server.config import Outbound
from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import sends, workspaces
from dispatch_server.outbound.outbox import Outbox
from dispatch_server.outbound.transports import OutgoingMail
from dispatch_server.outbound.transports.ses import SesTransport
from dispatch_server.services import Services
from tests.server.outbound.conftest import free_port

pytestmark = pytest.mark.anyio


async def _inbox(db: Database, local_part: str) -> sends.Sender:
    signup = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=local_part
    )
    return await db.run_read(sends.sender_of, signup.inbox.workspace_id, signup.inbox.id)


async def _queue(db: Database, sender: sends.Sender, to: str) -> str:
    fields = sends.SendFields(to=(to,), subject="queued", text="Code 424242")
    draft = sends.draft(sender, fields, None, max_recipients=50, max_attachment_bytes=1024)
    queued = await db.run_write(
        sends.queue, draft, provider="local", now=utcnow(), send_limit=100, recipient_limit=100
    )
    return queued.id


async def _make_due(db: Database, send_id: str, **values: Any) -> None:
    past = utcnow() - timedelta(seconds=1)
    await db.run_write(
        lambda conn: conn.execute(
            t.outbound_messages.update()
            .where(t.outbound_messages.c.id == send_id)
            .values(next_attempt_at=past, **values)
        )
    )


async def _received(db: Database, inbox_id: str) -> int:
    found = await db.run_read(
        lambda conn: conn.scalar(
            sa.select(sa.func.count()).where(t.messages.c.inbox_id == inbox_id)
        )
    )
    return int(found or 0)


async def _sent(db: Database, sender: sends.Sender, send_id: str) -> sends.SentMessage:
    return await db.run_read(sends.get_sent, sender.inbox_id, send_id)


async def test_a_send_never_handed_over_is_picked_up_once(services: Services) -> None:
    db = services.db
    sender, receiver = await _inbox(db, "from"), await _inbox(db, "to")
    send_id = await _queue(db, sender, receiver.address)
    assert await services.outbox.run_due() == 0  # its request still has it
    await _make_due(db, send_id)  # the request died: its grace has passed
    assert await services.outbox.run_due() == 1
    assert await services.outbox.run_due() == 0
    assert (await _sent(db, sender, send_id)).status == "delivered"
    assert await _received(db, receiver.inbox_id) == 1


async def test_a_claim_that_died_mid_call_is_handed_over_again_and_arrives_once(
    services: Services,
) -> None:
    db = services.db
    sender, receiver = await _inbox(db, "from"), await _inbox(db, "to")
    send_id = await _queue(db, sender, receiver.address)
    lease = timedelta(minutes=2)
    claimed = await db.run_write(sends.claim, send_id, utcnow(), lease, due_only=False)
    assert claimed is not None
    # No second claim while the first one lives.
    assert await db.run_write(sends.claim, send_id, utcnow(), lease, due_only=False) is None
    # The provider took it, then the process died before recording that.
    await services.outbox.transport.deliver(
        OutgoingMail(
            claimed.id, claimed.sender, claimed.recipients, claimed.raw, claimed.message_id
        )
    )
    await _make_due(db, send_id, lease_until=utcnow() - timedelta(seconds=1))
    assert await services.outbox.run_due() == 1
    sent = await _sent(db, sender, send_id)
    assert sent.status == "delivered" and sent.attempts == 2
    assert await _received(db, receiver.inbox_id) == 1  # deduped by the send's id


async def test_transient_failures_back_off_then_fail(
    services: Services, aws_credentials: None
) -> None:
    db = services.db
    sender = await _inbox(db, "from")
    send_id = await _queue(db, sender, "someone@example.com")
    closed = SesTransport(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        connect_timeout=1,
        read_timeout=1,
    )
    outbox = Outbox(db, closed, Outbound(max_attempts=3))
    try:
        before = utcnow()
        await outbox.hand_over(send_id)
        sent = await _sent(db, sender, send_id)
        assert sent.status == "queued" and sent.attempts == 1
        assert sent.last_error and "Could not connect" in sent.last_error
        assert sent.next_attempt_at is not None
        assert timedelta(seconds=1.5) < sent.next_attempt_at - before < timedelta(seconds=5)
        assert sent.events[-1].type == "deferred"
        assert await outbox.run_due() == 0  # not before its backoff
        for attempt in (2, 3):
            await _make_due(db, send_id)
            await outbox.run_due()
            assert (await _sent(db, sender, send_id)).attempts == attempt
        sent = await _sent(db, sender, send_id)
        assert sent.status == "failed" and sent.next_attempt_at is None
        assert [e.type for e in sent.events] == ["queued", "deferred", "deferred", "failed"]
    finally:
        await outbox.close()
    assert sends.retry_delay(1) == 2 and sends.retry_delay(2) == 4
    assert sends.retry_delay(30) == sends.MAX_RETRY_SECONDS


async def test_a_permanent_refusal_rejects_the_send(services: Services, moto: str) -> None:
    db = services.db
    sender = await _inbox(db, "unverified")  # moto knows no such identity
    send_id = await _queue(db, sender, "someone@example.com")
    outbox = Outbox(db, SesTransport(region="us-east-1", endpoint_url=moto), Outbound())
    try:
        await outbox.hand_over(send_id)
    finally:
        await outbox.close()
    sent = await _sent(db, sender, send_id)
    assert sent.status == "rejected" and sent.attempts == 1
    assert sent.last_error and "MessageRejected" in sent.last_error
    assert await outbox.run_due() == 0


async def test_recipients_suppressed_while_queued_are_not_sent_to(services: Services) -> None:
    from dispatch_server.domain import suppressions

    db = services.db
    sender, receiver = await _inbox(db, "from"), await _inbox(db, "to")
    send_id = await _queue(db, sender, receiver.address)
    await db.run_write(
        suppressions.suppress,
        sender.workspace_id,
        [receiver.address],
        reason="complaint",
        detail=None,
        outbound_message_id=None,
        now=utcnow(),
    )
    await services.outbox.hand_over(send_id)
    sent = await _sent(db, sender, send_id)
    assert sent.status == "suppressed"
    assert await _received(db, receiver.inbox_id) == 0


async def test_a_failed_hand_over_leaves_the_send_queued_and_the_rest_go(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = services.db
    sender, receiver = await _inbox(db, "from"), await _inbox(db, "to")
    stuck = await _queue(db, sender, receiver.address)
    other = await _queue(db, sender, receiver.address)
    real_claim = sends.claim

    def claim(conn: sa.Connection, send_id: str, *args: Any, **kwargs: Any) -> Any:
        if send_id == stuck:
            raise sa.exc.OperationalError("UPDATE", {}, Exception("the database went away"))
        return real_claim(conn, send_id, *args, **kwargs)

    monkeypatch.setattr(sends, "claim", claim)
    await services.outbox.hand_over(stuck)  # the request's: answered, not a 500
    await _make_due(db, stuck)
    await _make_due(db, other)
    assert await services.outbox.run_due() == 2  # the one after it still went
    assert (await _sent(db, sender, other)).status == "delivered"
    assert (await _sent(db, sender, stuck)).status == "queued"
    monkeypatch.setattr(sends, "claim", real_claim)
    assert await services.outbox.run_due() == 1
    assert (await _sent(db, sender, stuck)).status == "delivered"


async def test_recording_what_the_provider_took_is_tried_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unrecorded, the claim would lapse and the send go a second time.
    db = services.db
    sender, receiver = await _inbox(db, "from"), await _inbox(db, "to")
    send_id = await _queue(db, sender, receiver.address)
    real_record = sends.record_accepted
    failures = [sa.exc.OperationalError("COMMIT", {}, Exception("database is locked"))]

    def record_accepted(*args: Any, **kwargs: Any) -> None:
        if failures:
            raise failures.pop()
        real_record(*args, **kwargs)

    monkeypatch.setattr(sends, "record_accepted", record_accepted)
    monkeypatch.setattr("dispatch_server.outbound.outbox.RECORD_RETRY_SECONDS", 0.01)
    await services.outbox.hand_over(send_id)
    sent = await _sent(db, sender, send_id)
    assert sent.status == "delivered" and sent.attempts == 1 and not failures
    assert await _received(db, receiver.inbox_id) == 1


async def test_a_refused_send_never_enters_a_write_transaction(
    db: Database, hub: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite an error in a write transaction undoes the group commit of every write
    # batched with it (each runs again alone): sends past a quota would slow all writes.
    from dispatch_server.api.sends import send_from
    from dispatch_server.auth.principal import Principal
    from dispatch_server.core.errors import QuotaExceeded
    from dispatch_server.domain import suppressions
    from tests.conftest import make_settings

    settings = make_settings(database_url, DISPATCH_DAILY_SEND_QUOTA=1)
    services = Services(settings=settings, db=db, hub=hub)
    signup = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part="sender"
    )
    inbox = signup.inbox
    principal = Principal("key", "inbox", inbox.workspace_id, signup.agent.id, inbox.id)
    await db.run_write(
        suppressions.suppress,
        inbox.workspace_id,
        ["gone@example.com"],
        reason="bounce",
        detail=None,
        outbound_message_id=None,
        now=utcnow(),
    )
    writes: list[Any] = []
    run_write = db.run_write

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        writes.append(fn)
        return await run_write(fn, *args, **kwargs)

    monkeypatch.setattr(db, "run_write", counted)
    try:
        with pytest.raises(sends.RecipientSuppressed):
            await send_from(
                services, principal, inbox.id, sends.SendFields(to=("gone@example.com",), text="x")
            )
        assert writes == []
        ok = sends.SendFields(to=("someone@example.com",), text="x")
        assert (await send_from(services, principal, inbox.id, ok)).status == "sent"
        writes.clear()
        with pytest.raises(QuotaExceeded):
            await send_from(services, principal, inbox.id, ok)
        assert writes == []
    finally:
        await services.outbox.close()


async def test_feedback_before_the_hand_over_is_recorded_stays(services: Services) -> None:
    # SNS can be quicker than the commit that records what the provider said.
    from dispatch_server.domain import deliveries
    from dispatch_server.outbound.feedback.ses_events import SesEvent
    from dispatch_server.outbound.transports import Accepted

    db = services.db
    sender = await _inbox(db, "from")
    send_id = await _queue(db, sender, "someone@example.com")
    claimed = await db.run_write(
        sends.claim, send_id, utcnow(), timedelta(minutes=2), due_only=False
    )
    assert claimed is not None
    event = SesEvent(
        kind="bounce",
        ses_message_id="ses-1",
        recipients=("someone@example.com",),
        permanent=True,
        occurred_at=utcnow(),
        dispatch_outbound_id=send_id,
    )
    applied = await db.run_write(
        deliveries.apply_feedback, event, feedback_id="sns-1", now=utcnow()
    )
    assert applied == "stored"
    await db.run_write(sends.record_accepted, claimed, Accepted("ses-1"), now=utcnow())
    sent = await _sent(db, sender, send_id)
    assert sent.status == "bounced" and sent.provider_message_id == "ses-1"
    assert await services.outbox.run_due() == 0  # and it is not sent again
