"""The issue's user story, end to end: SDK + real HTTP + mail through a real SMTP socket."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from dispatch_client import AsyncDispatch, Dispatch, NotFoundError, WaitTimeoutError
from tests.conftest import LiveServer
from tests.helpers import make_mail, signup, smtp_send


def send_later(server: LiveServer, to: str, raw: bytes, delay: float = 0.3) -> threading.Thread:
    thread = threading.Timer(delay, smtp_send, args=(server.smtp_host, server.smtp_port, to, raw))
    thread.start()
    return thread


def test_inbox_in_otp_out_sync(live_server: LiveServer) -> None:
    account_key = signup(live_server.base_url)["account_key"]
    with Dispatch(api_key=account_key, base_url=live_server.base_url) as d:
        inbox = d.inboxes.create()
        sender = send_later(
            live_server,
            inbox.address,
            make_mail(
                inbox.address,
                subject="Your Acme verification code",
                text="Hi! Your verification code is 604219. It expires in 10 minutes.",
            ),
        )
        code = d.otp.wait_for_otp(inbox.id, timeout=30)
        sender.join()
        assert code == "604219"
        message = d.messages.wait_for_message(inbox.id, timeout=5, subject="verification")
        assert message.subject == "Your Acme verification code"
        assert message.from_ == "Acme <no-reply@acme.test>"
        assert [m.id for m in d.messages.iter(inbox.id)] == [message.id]
        assert d.messages.raw(inbox.id, message.id).startswith(b"From: Acme")
        latest = d.otp.latest(inbox.id)
        assert latest is not None and latest.code == "604219"


def test_inbox_in_otp_out_async(live_server: LiveServer) -> None:
    account_key = signup(live_server.base_url)["account_key"]

    async def story() -> str:
        async with AsyncDispatch(api_key=account_key, base_url=live_server.base_url) as d:
            inbox = await d.inboxes.create(local_part="async-story")
            sender = send_later(
                live_server,
                inbox.address,
                make_mail(
                    inbox.address,
                    subject="Sign in to Example",
                    html="<p>Your sign-in code:</p><p style='font-size:28px'><b>771 204</b></p>",
                    text=None,
                ),
            )
            try:
                return await d.otp.wait_for_otp(inbox.id, timeout=30)
            finally:
                await asyncio.to_thread(sender.join)

    assert asyncio.run(story()) == "771204"


def test_wait_for_otp_ignores_codes_from_before_since(live_server: LiveServer) -> None:
    account_key = signup(live_server.base_url)["account_key"]
    with Dispatch(api_key=account_key, base_url=live_server.base_url) as d:
        inbox = d.inboxes.create()
        smtp_send(
            live_server.smtp_host,
            live_server.smtp_port,
            inbox.address,
            make_mail(inbox.address, text="Your code is 111222"),
        )
        since = datetime.now(UTC)
        sender = send_later(
            live_server, inbox.address, make_mail(inbox.address, text="Your code is 333444")
        )
        assert d.otp.wait_for_otp(inbox.id, timeout=30, since=since) == "333444"
        sender.join()


def test_wait_for_otp_times_out_clearly(live_server: LiveServer) -> None:
    account_key = signup(live_server.base_url)["account_key"]
    with Dispatch(api_key=account_key, base_url=live_server.base_url) as d:
        inbox = d.inboxes.create()
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError) as caught:
            d.otp.wait_for_otp(inbox.id, timeout=1)
        assert 1 <= time.monotonic() - started < 5
        assert inbox.id in str(caught.value)


def test_foreign_inbox_is_not_found(live_server: LiveServer) -> None:
    mine = signup(live_server.base_url)["account_key"]
    theirs = signup(live_server.base_url)["inbox"]["id"]
    with Dispatch(api_key=mine, base_url=live_server.base_url) as d, pytest.raises(NotFoundError):
        d.messages.list(theirs)
