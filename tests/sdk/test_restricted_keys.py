"""Restricted inbox keys and consuming waits from the SDK, sync and async, against a real
server on both databases: minting with restrictions, `auth.me()` reporting them, their
enforcement; codes taken once, leases and their confirmation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dispatch_client import (
    AsyncDispatch,
    BadRequestError,
    Dispatch,
    InvalidArgumentError,
    PermissionDeniedError,
    WaitTimeoutError,
)
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import signup


def deliver(server: LiveServer, to: str, sender: str, text: str) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
        json={"to": to, "from": sender, "subject": "hi", "text": text},
    )
    assert response.status_code == 201, response.text


def test_mint_restricted_and_use_it(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    deliver(live_server, inbox["address"], "bot@github.com", "Your code is 424242")
    deliver(live_server, inbox["address"], "x@evil.test", "Your code is 131313")
    with Dispatch(api_key=account["account_key"], base_url=live_server.base_url) as d:
        created = d.inboxes.keys.create(
            inbox["id"],
            label="otp-agent",
            permissions=["read", "wait"],
            allowed_senders=["*@github.com"],
            expires_in=600,
        )
        assert created.restricted and created.permissions == ("read", "wait")
        assert created.allowed_senders == ("*@github.com",)
        assert d.inbox_keys.get(inbox["id"]) != created.key  # not this client's key
        [listed] = [k for k in d.inboxes.keys.list(inbox["id"]) if k.id == created.id]
        assert listed.restricted and listed.expires_at == created.expires_at
    with Dispatch(api_key=created.key, base_url=live_server.base_url) as agent:
        me = agent.auth.me()
        assert (me.kind, me.restricted, me.permissions) == ("inbox", True, ("read", "wait"))
        assert me.allowed_senders == ("*@github.com",)
        assert me.expires_at is not None
        assert timedelta(minutes=9) < me.expires_at - datetime.now(UTC) <= timedelta(minutes=10)
        assert [m.from_address for m in agent.messages.list(inbox["id"])] == ["bot@github.com"]
        otp = agent.otp.latest(inbox["id"])
        assert otp is not None and otp.code == "424242"
        with pytest.raises(PermissionDeniedError) as refused:
            agent.messages.send(inbox["id"], to=["a@example.com"], subject="x", text="x")
        assert refused.value.code == "missing_permission"


def test_bad_restrictions_raise_naming_the_field(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    with Dispatch(api_key=account["account_key"], base_url=live_server.base_url) as d:
        with pytest.raises(BadRequestError) as bad:
            d.inboxes.keys.create(account["inbox"]["id"], permissions=["admin"])
        assert bad.value.param == "permissions"
        with pytest.raises(BadRequestError) as past:
            d.inboxes.keys.create(
                account["inbox"]["id"], expires_at=datetime.now(UTC) - timedelta(seconds=5)
            )
        assert past.value.param == "expires_at"


@pytest.mark.anyio
async def test_async_mint_restricted(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    async with AsyncDispatch(api_key=account["account_key"], base_url=live_server.base_url) as d:
        created = await d.inboxes.keys.create(
            account["inbox"]["id"],
            permissions=["memory"],
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    async with AsyncDispatch(api_key=created.key, base_url=live_server.base_url) as agent:
        me = await agent.auth.me()
        assert me.permissions == ("memory",) and me.restricted and me.allowed_senders is None
        with pytest.raises(PermissionDeniedError) as refused:
            await agent.messages.list(account["inbox"]["id"])
        assert (refused.value.code, refused.value.param) == ("missing_permission", "read")


def test_consuming_waits_sync_and_confirm(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    deliver(live_server, inbox["address"], "x@acme.test", "Your code is 707070")
    with Dispatch(api_key=account["inbox_key"], base_url=live_server.base_url) as one:
        code = one.otp.wait_for_otp(inbox["id"], consume=True, lease_seconds=60, timeout=5)
        assert code == "707070"
        two = Dispatch(api_key=account["inbox_key"], base_url=live_server.base_url)
        with two, pytest.raises(WaitTimeoutError):
            two.otp.wait_for_otp(inbox["id"], consume=True, timeout=0)
        confirmed = one.otp.confirm(inbox["id"], code)
        assert confirmed.code == code and confirmed.lease_expires_at is None
        assert confirmed.consumed_at is not None
        with pytest.raises(InvalidArgumentError):
            one.otp.confirm(inbox["id"], code)  # the lease was used up
        with pytest.raises(InvalidArgumentError):
            one.otp.wait_for_otp(inbox["id"], lease_seconds=5)  # a lease needs consume
        latest = one.otp.latest(inbox["id"])
        assert latest is not None and latest.consumed_at is not None


@pytest.mark.anyio
async def test_async_consuming_waits_one_code_many_agents(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]

    async def agent() -> str | None:
        async with AsyncDispatch(api_key=account["inbox_key"], base_url=live_server.base_url) as d:
            try:
                return await d.otp.wait_for_otp(inbox["id"], consume=True, timeout=4)
            except WaitTimeoutError:
                return None

    waiting = [asyncio.ensure_future(agent()) for _ in range(8)]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(
        deliver, live_server, inbox["address"], "x@acme.test", "Your code is 808080"
    )
    codes = await asyncio.gather(*waiting)
    assert sorted(c for c in codes if c) == ["808080"] and codes.count(None) == 7
