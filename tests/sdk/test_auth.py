"""`d.auth.me()`: the request it sends, what it decodes, and its errors, sync and async; then
against a real server on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dispatch_client import (
    AsyncDispatch,
    AuthenticationError,
    Dispatch,
    DispatchError,
    KeyInfo,
    PermissionDeniedError,
)
from tests.conftest import LiveServer
from tests.helpers import signup
from tests.sdk.helpers import (
    ACCOUNT,
    INBOX_ID,
    MINTED,
    MINTED_ID,
    NOW,
    Recorder,
    async_client,
    error,
    sync_client,
)

ACCOUNT_ID = ACCOUNT.partition(".")[0]
ACCOUNT_INFO: dict[str, Any] = {
    "kind": "account",
    "key_id": ACCOUNT_ID,
    "workspace_id": "w",
    "agent_id": "a",
    "inbox_id": None,
    "inbox_address": None,
    "permissions": [
        "inboxes",
        "inbox_keys",
        "read",
        "send",
        "events",
        "webhooks",
        "billing",
        "suppressions",
        "lists",
        "domains",
    ],
    "expires_at": None,
}
INBOX_INFO: dict[str, Any] = {
    **ACCOUNT_INFO,
    "kind": "inbox",
    "key_id": MINTED_ID,
    "inbox_id": INBOX_ID,
    "inbox_address": "bot@dispatch.test",
    "permissions": ["read", "wait", "send", "memory", "organize"],
    "some_future_field": {"ignored": True},
}


def test_me_with_an_account_key() -> None:
    recorder = Recorder(httpx.Response(200, json=ACCOUNT_INFO))
    key = sync_client(recorder).auth.me()
    [request] = recorder.requests
    assert (request.method, str(request.url)) == ("GET", "http://dispatch.test/v1/auth/me")
    assert recorder.auth(0) == ACCOUNT and not request.content
    assert key == KeyInfo(
        kind="account",
        key_id=ACCOUNT_ID,
        workspace_id="w",
        agent_id="a",
        inbox_id=None,
        inbox_address=None,
        permissions=(
            "inboxes",
            "inbox_keys",
            "read",
            "send",
            "events",
            "webhooks",
            "billing",
            "suppressions",
            "lists",
            "domains",
        ),
        expires_at=None,
    )


def test_me_asks_with_the_clients_own_key_not_a_cached_inbox_key() -> None:
    recorder = Recorder(httpx.Response(200, json=INBOX_INFO))
    client = sync_client(recorder, api_key=MINTED, inbox_keys={"other": ACCOUNT})
    key = client.auth.me()
    assert recorder.auth(0) == MINTED
    assert (key.kind, key.inbox_id, key.inbox_address) == ("inbox", INBOX_ID, "bot@dispatch.test")
    assert key.permissions == ("read", "wait", "send", "memory", "organize")


def test_me_decodes_an_expiry_and_new_permission_words() -> None:
    body = {**INBOX_INFO, "expires_at": NOW, "permissions": ["read", "a_future_word"]}
    key = sync_client(Recorder(httpx.Response(200, json=body))).auth.me()
    assert key.expires_at == datetime(2026, 11, 24, 9, 30, 0, 123456, tzinfo=UTC)
    assert key.permissions == ("read", "a_future_word")


@pytest.mark.parametrize(
    "body",
    [
        {**ACCOUNT_INFO, "kind": "operator"},
        {**ACCOUNT_INFO, "permissions": "read"},
        {**ACCOUNT_INFO, "inbox_id": 5},
        {key: value for key, value in ACCOUNT_INFO.items() if key != "key_id"},
    ],
)
def test_me_refuses_a_body_of_the_wrong_shape(body: dict[str, Any]) -> None:
    with pytest.raises(DispatchError, match="unexpected response"):
        sync_client(Recorder(httpx.Response(200, json=body))).auth.me()


def test_me_errors() -> None:
    recorder = Recorder(error(401, "unauthorized"), error(403, "forbidden"))
    client = sync_client(recorder)
    with pytest.raises(AuthenticationError):
        client.auth.me()
    with pytest.raises(PermissionDeniedError):
        client.auth.me()
    with pytest.raises(DispatchError, match="no API key"):
        sync_client(Recorder(), api_key=None).auth.me()


@pytest.mark.anyio
async def test_async_me() -> None:
    recorder = Recorder(
        httpx.Response(200, json=INBOX_INFO),
        error(401, "unauthorized"),
    )
    async with async_client(recorder, api_key=MINTED) as client:
        key = await client.auth.me()
        with pytest.raises(AuthenticationError):
            await client.auth.me()
    assert recorder.paths == ["/v1/auth/me", "/v1/auth/me"]
    assert [recorder.auth(i) for i in range(2)] == [MINTED, MINTED]
    assert isinstance(key, KeyInfo) and key.inbox_address == "bot@dispatch.test"
    assert key == sync_client(Recorder(httpx.Response(200, json=INBOX_INFO))).auth.me()


def test_me_against_a_server(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    with Dispatch(api_key=account["account_key"], base_url=live_server.base_url) as d:
        key = d.auth.me()
        assert (key.kind, key.workspace_id) == ("account", account["workspace"]["id"])
        assert key.inbox_id is None and "inbox_keys" in key.permissions
        d.messages.list(account["inbox"]["id"])  # mints and caches an inbox key
        assert d.auth.me() == key  # still the account key
    with Dispatch(api_key=account["inbox_key"], base_url=live_server.base_url) as d:
        key = d.auth.me()
    assert (key.kind, key.inbox_address) == ("inbox", account["inbox"]["address"])
    assert (
        key.permissions == ("read", "wait", "send", "memory", "organize") and key.expires_at is None
    )


@pytest.mark.anyio
async def test_async_me_against_a_server(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    async with AsyncDispatch(api_key=account["inbox_key"], base_url=live_server.base_url) as d:
        key = await d.auth.me()
    assert (key.kind, key.inbox_id) == ("inbox", account["inbox"]["id"])
    async with AsyncDispatch(api_key=f"{key.key_id}.wrong", base_url=live_server.base_url) as d:
        with pytest.raises(AuthenticationError):
            await d.auth.me()
