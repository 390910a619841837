"""Restricted inbox keys from the SDK, sync and async, against a real server on both
databases: minting with restrictions, `auth.me()` reporting them, and their enforcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dispatch_client import AsyncDispatch, BadRequestError, Dispatch, PermissionDeniedError
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
