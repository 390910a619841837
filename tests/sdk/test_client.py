"""Building a client: keys and base URL from arguments or the environment, their checks,
closing, redirects, and what signup() does to the client's keys."""

from __future__ import annotations

import json

import httpx
import pytest

from dispatch_client import AsyncDispatch, Dispatch, DispatchError, InvalidArgumentError
from tests.sdk.helpers import (
    ACCOUNT,
    CREATED_KEY,
    INBOX,
    INBOX_ID,
    MINTED,
    SIGNUP,
    Recorder,
    async_client,
    error,
    page,
    sync_client,
)


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_API_KEY", ACCOUNT)
    monkeypatch.setenv("DISPATCH_BASE_URL", "http://env.test/prefix/")
    recorder = Recorder(page())
    http_client = httpx.Client(transport=httpx.MockTransport(recorder))
    with Dispatch(http_client=http_client) as client:
        assert client.inboxes.list().data == ()
    assert str(recorder.requests[0].url) == "http://env.test/prefix/v1/inboxes?limit=50"
    assert recorder.auth(0) == ACCOUNT
    assert not http_client.is_closed  # your client stays yours: not closed, not modified
    assert http_client.base_url == httpx.URL("")


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPATCH_API_KEY", raising=False)
    monkeypatch.delenv("DISPATCH_BASE_URL", raising=False)
    with Dispatch(timeout=12.0) as client:
        assert client.base_url == "http://127.0.0.1:8000"
        assert client._driver.client.timeout.read == 12.0
    assert client._driver.client.is_closed


def test_keyed_call_without_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPATCH_API_KEY", raising=False)
    recorder = Recorder()
    client = sync_client(recorder, api_key=None)
    with pytest.raises(DispatchError, match="DISPATCH_API_KEY"):
        client.inboxes.list()
    with pytest.raises(DispatchError, match="DISPATCH_API_KEY"):
        client.messages.list(INBOX_ID)
    assert recorder.requests == []


def test_signup_needs_no_key_and_seeds_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPATCH_API_KEY", raising=False)
    recorder = Recorder(
        httpx.Response(201, json=SIGNUP),
        httpx.Response(200, json={"otp": None}),
        page(INBOX),
    )
    client = sync_client(recorder, api_key=None)
    result = client.agent.signup(name="n", local_part="bot")
    assert recorder.requests[0].url.path == "/v1/agent/signup"
    assert json.loads(recorder.requests[0].content) == {"name": "n", "local_part": "bot"}
    assert recorder.auth(0) is None
    assert (result.workspace.plan, result.agent.name, result.inbox.id) == ("free", "n", INBOX_ID)
    assert "secret" not in repr(result)  # keys stay out of reprs and logs
    assert client.otp.latest(INBOX_ID) is None
    assert client.inboxes.list().data[0].id == INBOX_ID
    assert [recorder.auth(1), recorder.auth(2)] == [MINTED, ACCOUNT]


OLD_KEY = "44444444-4444-4444-8444-444444444444.old-secret"


@pytest.mark.parametrize("source", ["environment", "argument"])
def test_signup_replaces_the_key_the_client_had(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After signup() the client acts for the new workspace, whatever key it started with.
    monkeypatch.setenv("DISPATCH_API_KEY", OLD_KEY)
    recorder = Recorder(httpx.Response(201, json=SIGNUP), page(), page())
    if source == "environment":
        client = sync_client(recorder, api_key=None, inbox_keys={"old-inbox": "old.inbox-key"})
    else:
        monkeypatch.delenv("DISPATCH_API_KEY")
        client = sync_client(recorder, api_key=OLD_KEY, inbox_keys={"old-inbox": "old.inbox-key"})
    assert client._credentials.api_key == OLD_KEY
    client.agent.signup()
    assert recorder.auth(0) is None  # signup sends no key, not even the old one
    client.inboxes.list()
    client.messages.list(INBOX_ID)
    assert [recorder.auth(1), recorder.auth(2)] == [ACCOUNT, MINTED]
    assert client.inbox_keys == {"old-inbox": "old.inbox-key", INBOX_ID: MINTED}


@pytest.mark.anyio
async def test_async_signup_replaces_the_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISPATCH_API_KEY", OLD_KEY)
    recorder = Recorder(httpx.Response(201, json=SIGNUP), page())
    async with async_client(recorder, api_key=None) as client:
        await client.agent.signup()
        await client.inboxes.list()
    assert [recorder.auth(0), recorder.auth(1)] == [None, ACCOUNT]
    assert client.inbox_keys == {INBOX_ID: MINTED}


def test_keys_lose_surrounding_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_API_KEY", f"  {ACCOUNT}\n")  # e.g. from `$(cat key.txt)`
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json={**CREATED_KEY, "key": f"{MINTED}\r\n"}),
        page(),
        page(),
        page(),
    )
    client = sync_client(recorder, api_key=None, inbox_keys={"other": "\tother.key "})
    client.messages.list(INBOX_ID)
    client.messages.list("other")
    assert [recorder.auth(i) for i in range(4)] == [ACCOUNT, ACCOUNT, MINTED, "other.key"]
    assert client.inbox_keys == {"other": "other.key", INBOX_ID: MINTED}
    given = sync_client(recorder, api_key=f"{ACCOUNT}\n")
    given.inboxes.list()
    assert recorder.auth(4) == ACCOUNT


MALFORMED_KEYS = [
    "abc\ndef.hunter2",
    "clé.hunter2",
    "two words.hunter2",
    "x\x7f.hunter2",
]


@pytest.mark.parametrize("bad", MALFORMED_KEYS)
def test_malformed_keys_fail_at_construction_without_showing_them(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPATCH_API_KEY", raising=False)
    failures: list[DispatchError] = []
    for build in (
        lambda: Dispatch(api_key=bad),
        lambda: Dispatch(inbox_keys={INBOX_ID: bad}),
        lambda: AsyncDispatch(api_key=bad),
    ):
        with pytest.raises(DispatchError, match="not printable ASCII") as caught:
            build()
        failures.append(caught.value)
    monkeypatch.setenv("DISPATCH_API_KEY", bad)
    with pytest.raises(DispatchError, match="not printable ASCII") as caught:
        Dispatch()
    failures.append(caught.value)
    for failure in failures:
        assert type(failure) is DispatchError
        assert "hunter2" not in str(failure) and "hunter2" not in repr(failure)


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8000", "dispatch.test/api", "ftp://dispatch.test", "http://", "https:///v1"]
)
def test_base_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="http:// or https://"):
        Dispatch(api_key=ACCOUNT, base_url=url)
    with pytest.raises(InvalidArgumentError, match="http:// or https://"):
        AsyncDispatch(api_key=ACCOUNT, base_url=url)


@pytest.mark.parametrize(
    ("url", "use"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        ("https://example.com/dispatch/v1", "https://example.com/dispatch"),
    ],
)
def test_a_base_url_ending_in_v1_says_how_to_fix_it(url: str, use: str) -> None:
    message = f"base_url ends in '/v1'; the SDK adds /v1 itself: use {use}"
    for client in (Dispatch, AsyncDispatch):
        with pytest.raises(InvalidArgumentError) as caught:
            client(api_key=ACCOUNT, base_url=url)
        assert str(caught.value) == message
        assert caught.value.param == "base_url"


def test_a_v1_base_url_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISPATCH_BASE_URL", "http://127.0.0.1:8000/v1")
    with pytest.raises(InvalidArgumentError, match=r"^\$DISPATCH_BASE_URL ends in '/v1'"):
        Dispatch(api_key=ACCOUNT)


@pytest.mark.parametrize(
    "url", ["https://example.com/dispatch", "https://example.com/v1beta", "http://v1.test"]
)
def test_a_path_prefix_is_kept(url: str) -> None:
    recorder = Recorder(page())
    client = Dispatch(
        api_key=ACCOUNT,
        base_url=url,
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
    )
    client.inboxes.list()
    assert str(recorder.requests[0].url) == f"{url}/v1/inboxes?limit=50"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
    ],
)
def test_client_settings_are_checked(kwargs: dict[str, float], param: str) -> None:
    for client in (Dispatch, AsyncDispatch):
        with pytest.raises(InvalidArgumentError, match=param) as caught:
            client(api_key=ACCOUNT, **kwargs)  # type: ignore[arg-type]
        assert caught.value.param == param


def test_a_closed_client_says_so() -> None:
    client = Dispatch(api_key=ACCOUNT, base_url="http://dispatch.test")
    client.close()
    with pytest.raises(DispatchError, match="client is closed"):
        client.inboxes.list()


@pytest.mark.anyio
async def test_a_closed_async_client_says_so() -> None:
    client = AsyncDispatch(api_key=ACCOUNT, base_url="http://dispatch.test")
    await client.aclose()
    with pytest.raises(DispatchError, match="client is closed"):
        await client.inboxes.list()


def test_default_http_clients_do_not_follow_redirects() -> None:
    with Dispatch(api_key=ACCOUNT) as client:
        assert client._driver.client.follow_redirects is False
    assert AsyncDispatch(api_key=ACCOUNT)._driver.client.follow_redirects is False


@pytest.mark.anyio
async def test_async_signup_and_default_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPATCH_API_KEY", raising=False)
    recorder = Recorder(error(503, "unavailable", {"retry-after": "0"}), page())
    client = AsyncDispatch(
        inbox_keys={INBOX_ID: MINTED},
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
    )
    assert (await client.messages.list(INBOX_ID)).data == ()
    assert len(recorder.requests) == 2
    with pytest.raises(DispatchError, match="DISPATCH_API_KEY"):
        await client.inboxes.list()
    await client.aclose()
    assert not client._driver.client.is_closed  # not ours to close
