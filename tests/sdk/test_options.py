"""Per-call options (timeout, max_retries, extra_headers, idempotency_key), Idempotency-Key
on POSTs, and with_options() copies that share the client's state."""

from __future__ import annotations

import uuid

import httpx
import pytest

from dispatch_client import (
    AsyncDispatch,
    Dispatch,
    InternalServerError,
    InvalidArgumentError,
    RequestOptions,
    WaitOptions,
)
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
    matched_otp,
    matched_otp_at,
    page,
    raising,
    sync_client,
    unmatched,
)


def timeouts(request: httpx.Request) -> dict[str, float]:
    timeout: dict[str, float] = request.extensions["timeout"]
    return timeout


def test_the_option_names() -> None:
    assert RequestOptions.__optional_keys__ == {
        "timeout",
        "max_retries",
        "extra_headers",
        "idempotency_key",
    }
    assert WaitOptions.__optional_keys__ == {"max_retries", "extra_headers"}
    assert not RequestOptions.__required_keys__ and not WaitOptions.__required_keys__


def test_a_call_timeout_applies_to_each_of_its_requests() -> None:
    recorder = Recorder(raising(httpx.ReadTimeout), page())
    client = sync_client(recorder)
    client.inboxes.list(timeout=3.5)
    assert [timeouts(r) for r in recorder.requests] == [
        {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}
    ] * 2
    other = Recorder(page())
    sync_client(other).inboxes.list()
    assert timeouts(other.requests[0])["read"] == 5.0  # your http_client's own: httpx's default


def test_the_client_timeout_applies_to_the_http_client_it_makes() -> None:
    with Dispatch(api_key=ACCOUNT, timeout=7) as client:
        assert client._driver.client.timeout == httpx.Timeout(7)
        assert client._options.timeout == 7


def test_waits_derive_their_read_timeout_from_the_round() -> None:
    recorder = Recorder(unmatched, unmatched)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).with_options(timeout=4)
    client.messages.wait(INBOX_ID, timeout=5)
    client.messages.wait(INBOX_ID, timeout=12, max_retries=0)
    assert [timeouts(r) for r in recorder.requests] == [
        {"connect": 4, "read": 15, "write": 4, "pool": 4},
        {"connect": 4, "read": 22, "write": 4, "pool": 4},
    ]


def test_max_retries_per_call() -> None:
    recorder = Recorder(*[error(503, "unavailable")] * 5)
    client = sync_client(recorder, max_retries=0)
    with pytest.raises(InternalServerError):
        client.inboxes.list(max_retries=3)
    assert len(recorder.requests) == 4
    recorder = Recorder(*[error(503, "unavailable")] * 2)
    with pytest.raises(InternalServerError):
        sync_client(recorder).otp.latest(INBOX_ID, max_retries=1)
    assert len(recorder.requests) == 2


def test_extra_headers_are_added_but_the_key_stays_the_sdks() -> None:
    recorder = Recorder(page(), page())
    client = sync_client(recorder).with_options(extra_headers={"X-Team": "a", "X-Trace": "1"})
    client.inboxes.list(extra_headers={"x-trace": "2", "Authorization": "Bearer mine"})
    client.inboxes.list()
    first, second = recorder.requests
    assert (first.headers["x-team"], first.headers["x-trace"]) == ("a", "2")
    assert first.headers.get_list("x-trace") == ["2"]  # replaced, in any case, not repeated
    assert first.headers["authorization"] == f"Bearer {ACCOUNT}"
    assert second.headers["x-trace"] == "1"  # a call's headers are for that call only


def test_posts_get_an_idempotency_key_reused_by_their_retries() -> None:
    recorder = Recorder(
        error(503, "unavailable"),
        httpx.Response(201, json=INBOX),
        httpx.Response(201, json=INBOX),
        page(),
    )
    client = sync_client(recorder)
    client.inboxes.create()
    client.inboxes.create()
    client.inboxes.list()
    keys = [r.headers.get("idempotency-key") for r in recorder.requests]
    assert keys[0] == keys[1]  # a retry is the same request
    assert keys[1] != keys[2]  # another call, another key
    assert all(uuid.UUID(key) for key in keys[:3] if key)
    assert keys[3] is None  # not on a GET


def test_a_given_idempotency_key_is_sent() -> None:
    recorder = Recorder(httpx.Response(201, json=CREATED_KEY), error(503, "busy"), page())
    client = sync_client(recorder)
    client.inboxes.keys.create(INBOX_ID, idempotency_key="order-42")
    with pytest.raises(InternalServerError):  # a GET carries none, given or not
        client.inboxes.list(idempotency_key="ignored", max_retries=0)
    assert recorder.requests[0].headers["idempotency-key"] == "order-42"
    assert "idempotency-key" not in recorder.requests[1].headers


def test_an_idempotency_key_in_extra_headers_is_kept() -> None:
    recorder = Recorder(httpx.Response(201, json=INBOX), httpx.Response(201, json=INBOX))
    client = sync_client(recorder)
    client.inboxes.create(extra_headers={"Idempotency-Key": "from-headers"})
    client.inboxes.create(extra_headers={"Idempotency-Key": "h"}, idempotency_key="option")
    assert [r.headers["idempotency-key"] for r in recorder.requests] == ["from-headers", "option"]


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"extra_headers": {"X-A": 1}}, "extra_headers"),
        ({"extra_headers": [("X-A", "1")]}, "extra_headers"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_bad_options_are_refused_before_sending(options: dict[str, object], param: str) -> None:
    recorder = Recorder()
    with pytest.raises(InvalidArgumentError) as caught:
        sync_client(recorder).inboxes.create(**options)  # type: ignore[arg-type]
    assert caught.value.param == param
    assert recorder.requests == []


def test_unknown_options_are_type_errors_naming_them() -> None:
    client = sync_client(Recorder(), inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(TypeError, match="unexpected keyword argument 'page_size'"):
        client.messages.list(INBOX_ID, page_size=10)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'idempotency_key'; the options here are extra_headers"):
        client.otp.wait_for_otp(INBOX_ID, idempotency_key="k")  # type: ignore[call-arg]


def test_waits_take_their_options() -> None:
    recorder = Recorder(error(503, "busy"), error(503, "busy"), matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED}, max_retries=0)
    code = client.otp.wait_for_otp(INBOX_ID, max_retries=2, extra_headers={"X-Agent": "a"})
    assert code == "482913"
    assert [r.headers["x-agent"] for r in recorder.requests] == ["a"] * 3


# --- with_options ----------------------------------------------------------------------


def test_with_options_shares_the_pool_the_keys_and_the_wait_positions() -> None:
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json=CREATED_KEY),
        matched_otp_at("c1"),
        matched_otp_at("c2"),
        page(),
    )
    client = sync_client(recorder, max_retries=0)
    fast = client.with_options(timeout=2, max_retries=1, extra_headers={"X-Via": "copy"})
    assert fast.otp.wait_for_otp(INBOX_ID) == "482913"  # the copy mints and remembers
    assert client.inbox_keys == {INBOX_ID: MINTED}  # ...for the original too
    client.otp.wait_for_otp(INBOX_ID)
    assert recorder.requests[3].url.params["after"] == "c1"  # the position is shared
    fast.messages.list(INBOX_ID)
    assert fast._driver is client._driver and fast._driver.client is client._driver.client
    assert fast._driver.locks is client._driver.locks
    assert fast.base_url == client.base_url
    assert [recorder.auth(i) for i in range(5)] == [ACCOUNT, ACCOUNT, MINTED, MINTED, MINTED]
    assert "x-via" in recorder.requests[0].headers and "x-via" not in recorder.requests[3].headers
    assert timeouts(recorder.requests[4])["read"] == 2
    assert (client._options.timeout, client._options.max_retries) == (None, 0)  # unchanged


def test_with_options_copies_keep_the_other_defaults_and_chain() -> None:
    client = sync_client(Recorder()).with_options(timeout=3, extra_headers={"A": "1"})
    chained = client.with_options(max_retries=5, extra_headers={"B": "2"})
    assert (chained._options.timeout, chained._options.max_retries) == (3, 5)
    assert chained._options.extra_headers == {"A": "1", "B": "2"}
    assert type(chained) is Dispatch


def test_closing_a_copy_leaves_the_shared_pool_open() -> None:
    client = Dispatch(api_key=ACCOUNT, base_url="http://dispatch.test")
    with client.with_options(timeout=1) as copy:
        assert copy.inbox_keys == {}
    assert not client._driver.client.is_closed
    client.close()
    assert client._driver.client.is_closed


def test_with_options_checks_its_arguments() -> None:
    client = sync_client(Recorder())
    with pytest.raises(InvalidArgumentError, match="timeout"):
        client.with_options(timeout=-1)
    with pytest.raises(InvalidArgumentError, match="max_retries"):
        client.with_options(max_retries=-2)


def test_signup_on_a_copy_is_seen_by_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPATCH_API_KEY", raising=False)
    recorder = Recorder(httpx.Response(201, json=SIGNUP), page())
    client = sync_client(recorder, api_key=None)
    client.with_options(timeout=5).agent.signup()
    client.inboxes.list()
    assert recorder.auth(1) == ACCOUNT


@pytest.mark.anyio
async def test_async_options_and_with_options() -> None:
    recorder = Recorder(
        httpx.Response(201, json=INBOX),
        error(403, "forbidden"),
        httpx.Response(201, json=CREATED_KEY),
        page(),
        page(),
    )
    client = async_client(recorder)
    copy = client.with_options(extra_headers={"X-Via": "copy"}, timeout=6)
    assert isinstance(copy, AsyncDispatch)
    await copy.inboxes.create(idempotency_key="async-key", timeout=2)
    await copy.messages.list(INBOX_ID)
    await client.messages.list(INBOX_ID)
    await copy.aclose()
    assert not client._driver.client.is_closed
    await client.aclose()
    assert recorder.requests[0].headers["idempotency-key"] == "async-key"
    assert timeouts(recorder.requests[0])["read"] == 2
    assert timeouts(recorder.requests[1])["read"] == 6
    assert recorder.requests[2].headers["idempotency-key"]  # the mint, a POST, has its own
    assert [recorder.auth(i) for i in (3, 4)] == [MINTED, MINTED]  # minted by the copy, shared
    assert "x-via" not in recorder.requests[4].headers
