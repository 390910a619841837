"""Sending with the SDK against a real server, on both databases: one inbox mails another
on the same server (the `local` provider delivers it into the receiver's inbox, where the
waits see it), replies stay in their thread, sent mail shows its delivery states, memory
round-trips, suppressions refuse and lift, quotas are typed, and a retried send is stored
once."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_client import (
    AsyncDispatch,
    Dispatch,
    NotFoundError,
    OutgoingAttachment,
    QuotaExceededError,
    RateLimitError,
    RecipientSuppressedError,
)
from dispatch_server.db import tables as t
from tests.conftest import LiveServer, _ServerThread, make_settings
from tests.helpers import signup


class Agent:
    """A new workspace: its account key, its first inbox and a second one."""

    def __init__(self, server: LiveServer) -> None:
        self.signup = signup(server.base_url)
        self.account_key: str = self.signup["account_key"]
        self.workspace_id: str = self.signup["workspace"]["id"]
        self.inbox: dict[str, Any] = self.signup["inbox"]
        self.server = server

    def client(self) -> Dispatch:
        return Dispatch(api_key=self.account_key, base_url=self.server.base_url)


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_one_inbox_mails_another_sync(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    with agent.client() as d:
        sender = agent.inbox
        receiver = d.inboxes.create(local_part="receiver")
        sent = d.messages.send(
            sender["id"],
            to=receiver.address,
            subject="Quarterly numbers",
            text="Attached, and your code is 604219.",
            attachments=[OutgoingAttachment("numbers.csv", b"q,n\n1,2\n"), ("a.bin", b"\0\1")],
        )
        assert sent.status == "delivered"
        assert sent.from_ == sender["address"] and sent.to == (receiver.address,)
        assert sent.message_id.startswith("<") and sent.provider == "local"
        assert [(a.filename, a.content_type, a.size_bytes) for a in sent.attachments] == [
            ("numbers.csv", "text/csv", 8),
            ("a.bin", "application/octet-stream", 2),
        ]
        got = d.messages.wait_for_message(receiver.id, timeout=30, subject="Quarterly")
        assert got.from_address == sender["address"]
        assert got.text is not None and "604219" in got.text
        assert got.message_id_header == sent.message_id
        assert sorted(a.filename or "" for a in got.attachments) == ["a.bin", "numbers.csv"]
        assert d.otp.latest(receiver.id) is not None
        [listed] = d.sent.list(sender["id"])
        assert (listed.id, listed.status) == (sent.id, "delivered")
        assert {"queued", "delivered"} <= {event.type for event in listed.events}
        assert d.sent.get(sender["id"], sent.id) == listed
        assert list(d.sent.list(sender["id"], status="failed")) == []
        with pytest.raises(NotFoundError):
            d.sent.get(sender["id"], str(uuid.uuid4()))


def test_one_inbox_mails_another_async(live_server: LiveServer) -> None:
    agent = Agent(live_server)

    async def story() -> None:
        async with AsyncDispatch(api_key=agent.account_key, base_url=live_server.base_url) as d:
            receiver = await d.inboxes.create(local_part="async-receiver")
            waiting = asyncio.create_task(
                d.otp.wait_for_otp(receiver.id, timeout=30, from_=agent.inbox["address"])
            )
            await asyncio.sleep(0.2)  # the wait is open on the server when the mail comes
            sent = await d.messages.send(
                agent.inbox["id"],
                to=[receiver.address],
                subject="Your sign-in code",
                html="<p>Your sign-in code is <b>771204</b></p>",
            )
            assert sent.status == "delivered"
            assert await waiting == "771204"
            page = await d.sent.list(agent.inbox["id"], status="delivered")
            assert [s.id for s in page.data] == [sent.id]

    asyncio.run(story())


def test_an_inbox_key_sends_from_its_own_inbox_only(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    with agent.client() as d:
        other = d.inboxes.create(local_part="other")
        d.messages.list(agent.inbox["id"])  # mints and caches an inbox key: sends then use it
        assert agent.inbox["id"] in d.inbox_keys
        assert d.messages.send(agent.inbox["id"], to=other.address, text="1").status == (
            "delivered"
        )
    with Dispatch(api_key=agent.signup["inbox_key"], base_url=live_server.base_url) as inbox:
        sent = inbox.messages.send(agent.inbox["id"], to=other.address, text="2")
        assert sent.inbox_id == agent.inbox["id"]
        with pytest.raises(NotFoundError):
            inbox.messages.send(other.id, to=agent.inbox["address"], text="3")


def test_a_reply_stays_in_its_thread(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    with agent.client() as d:
        service = d.inboxes.create(local_part="service")
        asked = d.messages.send(
            service.id,
            to=agent.inbox["address"],
            cc="observer@elsewhere.example",
            subject="Confirm your address",
            text="Reply to this mail to confirm.",
        )
        question = d.messages.wait_for_message(agent.inbox["id"], timeout=30)
        assert question.message_id_header == asked.message_id
        reply = d.messages.reply(agent.inbox["id"], question.id, text="Confirmed.")
        assert reply.in_reply_to == question.id
        assert reply.to == (service.address,) and reply.cc == ()
        assert reply.subject == "Re: Confirm your address"
        answer = d.messages.wait_for_message(service.id, timeout=30, subject="Re: Confirm")
        headers = parsed(d.messages.raw(service.id, answer.id))
        assert headers["In-Reply-To"] == asked.message_id
        assert asked.message_id in (headers["References"] or "")
        everyone = d.messages.reply(agent.inbox["id"], question.id, text="All.", reply_all=True)
        assert everyone.cc == ("observer@elsewhere.example",)
        assert everyone.status == "sent"  # elsewhere.example is not this server's domain


def test_mail_to_another_domain_is_sent_not_delivered(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    with agent.client() as d:
        sent = d.messages.send(agent.inbox["id"], to="someone@example.com", text="hello")
        assert sent.status == "sent" and sent.sent_at is not None
        [listed] = d.sent.list(agent.inbox["id"], status="sent")
        assert listed.id == sent.id
        assert list(d.sent.list(agent.inbox["id"], status="delivered")) == []


def test_memory_round_trip(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    inbox_id = agent.inbox["id"]
    with agent.client() as d:
        assert d.memory.read(inbox_id, "plan") is None
        assert d.memory.keys(inbox_id) == []
        first = d.memory.write(inbox_id, "plan", "step 1: sign up")
        second = d.memory.write(inbox_id, "plan", "step 2: confirm")
        d.memory.write(inbox_id, "notes", "café ☕")
        latest = d.memory.read(inbox_id, "plan")
        assert latest is not None
        assert (latest.value, latest.sent_id) == ("step 2: confirm", second.sent_id)
        history = d.memory.history(inbox_id, "plan", limit=1)
        assert [e.value for e in history] == ["step 2: confirm", "step 1: sign up"]
        assert [e.sent_id for e in history] == [second.sent_id, first.sent_id]
        assert [k.key for k in d.memory.keys(inbox_id)] == ["notes", "plan"]
        notes = d.memory.read(inbox_id, "notes")
        assert notes is not None and notes.value == "café ☕"
        assert d.memory.read(inbox_id, "Plan") is None  # keys are exact
        written = d.sent.get(inbox_id, first.sent_id)  # a write is mail the inbox sent itself
        assert (written.subject, written.to) == ("plan", (agent.inbox["address"],))


def test_memory_cannot_be_written_by_mailing_the_inbox(live_server: LiveServer) -> None:
    agent, stranger = Agent(live_server), Agent(live_server)
    with stranger.client() as s:
        s.messages.send(stranger.inbox["id"], to=agent.inbox["address"], subject="plan", text="x")
    with agent.client() as d:
        d.messages.wait_for_message(agent.inbox["id"], timeout=30, subject="plan")
        assert d.memory.read(agent.inbox["id"], "plan") is None


def suppress(server: LiveServer, workspace_id: str, address: str) -> None:
    async def insert() -> None:
        engine = create_async_engine(server.database_url)
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(
                t.recipient_suppressions.insert().values(
                    id=str(uuid.uuid4()),
                    workspace_id=workspace_id,
                    address=address,
                    reason="bounce",
                    detail="550 5.1.1 no such user",
                    outbound_message_id=None,
                    created_at=now,
                    updated_at=now,
                )
            )
        await engine.dispose()

    asyncio.run(insert())


def test_a_suppressed_recipient_is_refused_until_lifted(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    suppress(live_server, agent.workspace_id, "gone@example.com")
    with agent.client() as d:
        with pytest.raises(RecipientSuppressedError) as caught:
            d.messages.send(
                agent.inbox["id"], to=["ok@example.com"], bcc="gone@example.com", text="hi"
            )
        assert "gone@example.com" in str(caught.value)
        assert caught.value.code == "recipient_suppressed"
        assert list(d.sent.list(agent.inbox["id"])) == []  # nothing was stored
        [listed] = d.suppressions.list()
        assert (listed.address, listed.reason, listed.detail) == (
            "gone@example.com",
            "bounce",
            "550 5.1.1 no such user",
        )
        lifted = d.suppressions.delete("Gone@Example.com")
        assert lifted.address == "gone@example.com"
        assert list(d.suppressions.list()) == []
        with pytest.raises(NotFoundError):
            d.suppressions.delete("gone@example.com")
        sent = d.messages.send(agent.inbox["id"], to="gone@example.com", text="hi again")
        assert sent.status == "sent"


def test_a_retried_send_is_stored_once(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    with agent.client() as d:
        receiver = d.inboxes.create(local_part="once")
        arguments: dict[str, Any] = {
            "to": receiver.address,
            "subject": "Only once",
            "text": "hi",
            "idempotency_key": "send-once-1",
        }
        first = d.messages.send(agent.inbox["id"], **arguments)
        again = d.messages.send(agent.inbox["id"], **arguments)
        assert again == first
        assert [s.id for s in d.sent.list(agent.inbox["id"])] == [first.id]
        assert [m.subject for m in d.messages.list(receiver.id)] == ["Only once"]
        # Without a key of your own each call is a new send.
        d.messages.send(agent.inbox["id"], to=receiver.address, text="hi")
        d.messages.send(agent.inbox["id"], to=receiver.address, text="hi")
        assert len(list(d.sent.list(agent.inbox["id"]))) == 3


@pytest.fixture
def quota_server(database_url: str) -> Iterator[LiveServer]:
    settings = make_settings(
        database_url, DISPATCH_DAILY_SEND_QUOTA=2, DISPATCH_DAILY_RECIPIENT_QUOTA=1
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()


def test_quotas_are_typed_errors_raised_at_once(quota_server: LiveServer) -> None:
    agent = Agent(quota_server)
    inbox_id = agent.inbox["id"]
    with agent.client() as d:
        assert d.messages.send(inbox_id, to="a@example.com", text="1").status == "sent"
        with pytest.raises(QuotaExceededError) as recipients:
            d.messages.send(inbox_id, to="b@example.com", text="a second recipient")
        assert recipients.value.quota == "daily_recipients"
        # A refused send is not counted: the same recipient again is the day's second send.
        assert d.messages.send(inbox_id, to="a@example.com", text="2").status == "sent"
        started = time.monotonic()
        with pytest.raises(QuotaExceededError) as sends:
            d.messages.send(inbox_id, to="a@example.com", text="3")
        assert time.monotonic() - started < 5  # hours away: not retried, not slept on
        error = sends.value
        assert isinstance(error, RateLimitError)
        assert (error.status_code, error.code, error.quota) == (
            429,
            "quota_exceeded",
            "daily_sends",
        )
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        until_midnight = (midnight + timedelta(days=1) - datetime.now(UTC)).total_seconds()
        assert error.retry_after is not None
        assert abs(error.retry_after - until_midnight) < 5
        with pytest.raises(QuotaExceededError):
            d.memory.write(inbox_id, "k", "a memory write is a send too")
        assert len(list(d.sent.list(inbox_id))) == 2
