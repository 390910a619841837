"""SDK behaviour against httpx.MockTransport: request shapes, decoding, errors, retries,
inbox-key minting, paging and wait loops, for the sync and the async client."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from time import monotonic
from typing import Any

import attrs
import httpx
import pytest

import dispatch_client
from dispatch_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncDispatch,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Dispatch,
    DispatchError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from dispatch_client import _calls as calls
from dispatch_client import _transport as transport
from dispatch_client._calls import Request
from dispatch_client._errors import status_error
from dispatch_client._models import decode
from dispatch_client._transport import MAX_DELAY, next_delay, retry_delay

ACCOUNT = "11111111-1111-4111-8111-111111111111.account-secret"
MINTED = "22222222-2222-4222-8222-222222222222.inbox-secret"
INBOX_ID = "33333333-3333-4333-8333-333333333333"
NOW = "2026-11-24T09:30:00.123456Z"
NOW_DT = datetime(2026, 11, 24, 9, 30, 0, 123456, tzinfo=UTC)
MESSAGES = f"/v1/inboxes/{INBOX_ID}/messages"
KEYS = f"/v1/inboxes/{INBOX_ID}/keys"

INBOX = {
    "id": INBOX_ID,
    "workspace_id": "w",
    "address": "bot@dispatch.test",
    "display_name": None,
    "created_at": NOW,
}
INBOX_KEY = {
    "id": "k",
    "kind": "inbox",
    "inbox_id": INBOX_ID,
    "key": MINTED,
    "label": "dispatch-python",
    "created_at": NOW,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def message(number: int) -> dict[str, Any]:
    return {
        "id": f"m{number}",
        "inbox_id": INBOX_ID,
        "from": "Acme <a@acme.test>",
        "from_address": "a@acme.test",
        "to": ["bot@dispatch.test"],
        "cc": [],
        "subject": f"Message {number}",
        "text": "hi",
        "html": None,
        "message_id_header": None,
        "folder": "inbox",
        "size_bytes": 10,
        "received_at": NOW,
        "attachments": [],
        "some_future_field": {"ignored": True},
    }


def artifact(kind: str, value: str, *, primary: bool = True) -> dict[str, Any]:
    return {
        "id": f"a-{value}",
        "message_id": "m9",
        "kind": kind,
        "value": value,
        "is_primary": primary,
        "received_at": NOW,
    }


def page(*items: dict[str, Any], cursor: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"data": list(items), "next_cursor": cursor})


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": f"{code} here"}}, headers=headers
    )


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a list and records what it was asked."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer

    def auth(self, index: int) -> str | None:
        value = self.requests[index].headers.get("authorization")
        return None if value is None else value.removeprefix("Bearer ")

    @property
    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


def sync_client(handler: Handler, **kwargs: Any) -> Dispatch:
    kwargs.setdefault("api_key", ACCOUNT)
    client = Dispatch(
        base_url="http://dispatch.test",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        **kwargs,
    )
    client._driver.sleep = lambda seconds: None
    return client


def async_client(handler: Callable[[httpx.Request], Any], **kwargs: Any) -> AsyncDispatch:
    kwargs.setdefault("api_key", ACCOUNT)
    client = AsyncDispatch(
        base_url="http://dispatch.test",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **kwargs,
    )

    async def no_sleep(seconds: float) -> None:
        return None

    client._driver.sleep = no_sleep
    return client


def raising(error: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    return handler


# --- requests and models ---------------------------------------------------------------


def test_create_inbox_request_and_decoding() -> None:
    recorder = Recorder(httpx.Response(201, json=INBOX))
    inbox = sync_client(recorder).inboxes.create(local_part="bot")
    [request] = recorder.requests
    assert (request.method, str(request.url)) == ("POST", "http://dispatch.test/v1/inboxes")
    assert json.loads(request.content) == {"local_part": "bot"}
    assert request.headers["authorization"] == f"Bearer {ACCOUNT}"
    assert request.headers["user-agent"] == f"dispatch-python/{dispatch_client.__version__}"
    assert inbox.address == "bot@dispatch.test"
    assert inbox.display_name is None
    assert inbox.created_at == NOW_DT


def test_list_inboxes_and_create_key() -> None:
    recorder = Recorder(
        httpx.Response(200, json={"data": [INBOX, {**INBOX, "id": "other"}]}),
        httpx.Response(201, json={**INBOX_KEY, "label": "ci"}),
    )
    client = sync_client(recorder)
    assert [inbox.id for inbox in client.inboxes.list()] == [INBOX_ID, "other"]
    key = client.inboxes.create_key(INBOX_ID, label="ci")
    assert (key.key, key.label, key.inbox_id) == (MINTED, "ci", INBOX_ID)
    assert recorder.paths == ["/v1/inboxes", KEYS]
    assert json.loads(recorder.requests[1].content) == {"label": "ci"}
    assert client.inbox_keys == {INBOX_ID: MINTED}  # a key you mint is used, too


def test_get_inbox_with_an_account_key_does_not_mint() -> None:
    recorder = Recorder(httpx.Response(200, json=INBOX))
    assert sync_client(recorder).inboxes.get(INBOX_ID).id == INBOX_ID
    assert recorder.paths == [f"/v1/inboxes/{INBOX_ID}"]


def test_message_decoding_with_artifacts_and_from() -> None:
    body = {
        **message(9),
        "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 3}],
        "artifacts": [
            artifact("otp", "111111", primary=False),
            artifact("otp", "482913"),
            artifact("link", "https://acme.test/verify"),
        ],
    }
    recorder = Recorder(httpx.Response(200, json=body))
    got = sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.get(INBOX_ID, "m9")
    assert recorder.paths == [f"{MESSAGES}/m9"]
    assert got.from_ == "Acme <a@acme.test>"
    assert got.received_at == NOW_DT
    assert got.attachments[0].filename == "a.pdf"
    assert got.otp == "482913"
    assert got.links == ("https://acme.test/verify",)


def test_listed_messages_say_their_artifacts_are_not_loaded() -> None:
    recorder = Recorder(page(message(1), cursor="c1"))
    result = sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.list(
        INBOX_ID, limit=5, folder="spam", cursor="c0"
    )
    assert dict(recorder.requests[0].url.params) == {"limit": "5", "folder": "spam", "cursor": "c0"}
    assert result.next_cursor == "c1"
    listed = result.data[0]
    assert listed.artifacts is None  # not loaded, which is not "none found"
    with pytest.raises(DispatchError, match=r"messages\.get\(inbox_id, message\.id\)"):
        _ = listed.otp
    with pytest.raises(DispatchError, match=r"\.links"):
        _ = listed.links
    loaded = attrs.evolve(listed, artifacts=())
    assert (loaded.otp, loaded.links) == (None, ())  # loaded and empty: a real "none"


def test_raw_message_is_bytes() -> None:
    raw = b"From: Acme <a@acme.test>\r\nSubject: hi\r\n\r\nbody"
    recorder = Recorder(
        httpx.Response(200, content=raw, headers={"content-type": "message/rfc822"})
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.messages.raw(INBOX_ID, "m1") == raw
    assert recorder.requests[0].url.path == f"{MESSAGES}/m1/raw"
    assert recorder.requests[0].headers["accept"] == "message/rfc822"


def test_latest_otp() -> None:
    otp = {"code": "482913", "message_id": "m9", "from": "x@y", "subject": "s", "received_at": NOW}
    recorder = Recorder(
        httpx.Response(200, json={"otp": otp}), httpx.Response(200, json={"otp": None})
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    latest = client.otp.latest(INBOX_ID)
    assert latest is not None and (latest.code, latest.from_) == ("482913", "x@y")
    assert client.otp.latest(INBOX_ID) is None


def test_unexpected_success_bodies_are_dispatch_errors() -> None:
    recorder = Recorder(
        httpx.Response(200, text="<html>proxy login</html>"),
        httpx.Response(200, json={"id": INBOX_ID}),
        httpx.Response(200, json=[]),
    )
    client = sync_client(recorder)
    with pytest.raises(DispatchError, match="expected JSON"):
        client.inboxes.get(INBOX_ID)
    with pytest.raises(DispatchError, match="unexpected response") as caught:
        client.inboxes.get(INBOX_ID)
    assert "address" in str(caught.value)
    with pytest.raises(DispatchError, match="'data'"):
        client.inboxes.list()


def test_reprs_hide_keys() -> None:
    recorder = Recorder(httpx.Response(201, json=INBOX_KEY))
    client = sync_client(recorder)
    key = client.inboxes.create_key(INBOX_ID)
    for shown in (key, client._credentials, Request(method="GET", path="/", api_key=ACCOUNT)):
        assert "secret" not in repr(shown)


def test_ids_are_one_encoded_path_segment() -> None:
    recorder = Recorder(*[error(404, "not_found")] * 3)
    client = sync_client(recorder, inbox_keys={"ib": MINTED, "a/b?c#d": MINTED})
    with pytest.raises(NotFoundError):
        client.messages.get("ib", "../../../inboxes")
    with pytest.raises(NotFoundError):
        client.messages.raw("a/b?c#d", "m 1")
    with pytest.raises(NotFoundError):
        client.otp.latest("a/b?c#d")
    assert [r.url.raw_path for r in recorder.requests] == [  # raw_path: the query too
        b"/v1/inboxes/ib/messages/..%2F..%2F..%2Finboxes",
        b"/v1/inboxes/a%2Fb%3Fc%23d/messages/m%201/raw",
        b"/v1/inboxes/a%2Fb%3Fc%23d/otp",
    ]


@pytest.mark.parametrize("bad", ["", "  ", ".", ".."])
def test_empty_ids_are_refused_before_sending(bad: str) -> None:
    recorder = Recorder()
    client = sync_client(recorder)
    with pytest.raises(DispatchError, match="inbox_id must be a non-empty id"):
        client.messages.list(bad)
    with pytest.raises(DispatchError, match="message_id must be a non-empty id"):
        client.messages.get(INBOX_ID, bad)
    with pytest.raises(DispatchError, match="inbox_id must be a non-empty id"):
        client.otp.wait_for_otp(bad)
    with pytest.raises(DispatchError, match="inbox_id must be a non-empty id"):
        client.inboxes.create_key(bad)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"id": None}, "$.id"),  # null in a str field: not "None"
        ({"subject": 5}, "$.subject"),  # a number in a str field: not "5"
        ({"size_bytes": "5"}, "$.size_bytes"),
        ({"size_bytes": True}, "$.size_bytes"),  # bool is not int
        ({"size_bytes": 5.5}, "$.size_bytes"),
        ({"to": "bot@dispatch.test"}, "$.to"),  # a string is not a list of characters
        ({"to": [None]}, "$.to[0]"),
        ({"received_at": 1764000000}, "$.received_at"),
        ({"artifacts": [{**artifact("otp", "1"), "is_primary": "false"}]}, "is_primary"),
    ],
)
def test_wrong_types_are_refused_not_converted(change: dict[str, Any], where: str) -> None:
    recorder = Recorder(httpx.Response(200, json={**message(1), **change}))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(DispatchError, match="unexpected response") as caught:
        client.messages.get(INBOX_ID, "m1")
    assert where in str(caught.value)


def test_optional_fields_accept_null_and_times_become_utc() -> None:
    recorder = Recorder(
        httpx.Response(200, json={**message(1), "received_at": "2026-11-24T10:30:00.123456+01:00"}),
        httpx.Response(200, json={**message(1), "received_at": "2026-11-24T09:30:00.123456"}),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    for got in (client.messages.get(INBOX_ID, "m1"), client.messages.get(INBOX_ID, "m1")):
        assert got.received_at == NOW_DT and got.received_at.tzinfo is UTC
        assert (got.html, got.message_id_header) == (None, None)
    assert decode(5, float) == 5.0
    with pytest.raises(DispatchError):
        decode(True, float)


def test_models_are_immutable_and_hashable() -> None:
    body = {
        **message(9),
        "cc": ["c@acme.test"],
        "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 3}],
        "artifacts": [artifact("link", "https://acme.test/a")],
    }
    got = sync_client(Recorder(httpx.Response(200, json=body)), inbox_keys={INBOX_ID: MINTED})
    msg = got.messages.get(INBOX_ID, "m9")
    assert (msg.to, msg.cc) == (("bot@dispatch.test",), ("c@acme.test",))
    assert isinstance(msg.attachments, tuple) and isinstance(msg.artifacts, tuple)
    assert hash(msg) == hash(attrs.evolve(msg))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        msg.subject = "changed"  # type: ignore[misc]


# --- configuration ---------------------------------------------------------------------


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_API_KEY", ACCOUNT)
    monkeypatch.setenv("DISPATCH_BASE_URL", "http://env.test/prefix/")
    recorder = Recorder(httpx.Response(200, json={"data": []}))
    http_client = httpx.Client(transport=httpx.MockTransport(recorder))
    with Dispatch(http_client=http_client) as client:
        assert client.inboxes.list() == []
    assert str(recorder.requests[0].url) == "http://env.test/prefix/v1/inboxes"
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
    signup = {
        "workspace": {
            "id": "w",
            "name": "n",
            "plan": "free",
            "status": "active",
            "created_at": NOW,
        },
        "agent": {"id": "a", "workspace_id": "w", "name": "n", "created_at": NOW},
        "inbox": INBOX,
        "account_key": ACCOUNT,
        "inbox_key": MINTED,
    }
    recorder = Recorder(
        httpx.Response(201, json=signup),
        httpx.Response(200, json={"otp": None}),
        httpx.Response(200, json={"data": [INBOX]}),
    )
    client = sync_client(recorder, api_key=None)
    result = client.agent.signup(name="n", local_part="bot")
    assert recorder.requests[0].url.path == "/v1/agent/signup"
    assert json.loads(recorder.requests[0].content) == {"name": "n", "local_part": "bot"}
    assert recorder.auth(0) is None
    assert (result.workspace.plan, result.agent.name, result.inbox.id) == ("free", "n", INBOX_ID)
    assert "secret" not in repr(result)  # keys stay out of reprs and logs
    assert client.otp.latest(INBOX_ID) is None
    assert client.inboxes.list()[0].id == INBOX_ID
    assert [recorder.auth(1), recorder.auth(2)] == [MINTED, ACCOUNT]


def test_keys_lose_surrounding_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_API_KEY", f"  {ACCOUNT}\n")  # e.g. from `$(cat key.txt)`
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json={**INBOX_KEY, "key": f"{MINTED}\r\n"}),
        page(),
        page(),
        httpx.Response(200, json={"data": []}),
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
    with pytest.raises(DispatchError, match="http:// or https://"):
        Dispatch(api_key=ACCOUNT, base_url=url)
    with pytest.raises(DispatchError, match="http:// or https://"):
        AsyncDispatch(api_key=ACCOUNT, base_url=url)


def test_a_closed_client_says_so() -> None:
    client = Dispatch(api_key=ACCOUNT, base_url="http://dispatch.test")
    client.close()
    with pytest.raises(DispatchError, match="client is closed"):
        client.inboxes.list()


def test_default_http_clients_do_not_follow_redirects() -> None:
    with Dispatch(api_key=ACCOUNT) as client:
        assert client._driver.client.follow_redirects is False
    assert AsyncDispatch(api_key=ACCOUNT)._driver.client.follow_redirects is False


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "invalid_request", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (402, "upgrade_required", PaymentRequiredError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (405, "method_not_allowed", APIStatusError),
        (409, "address_taken", ConflictError),
        (413, "message_too_large", PayloadTooLargeError),
        (422, "unparseable_message", UnprocessableEntityError),
        (429, "quota_exceeded", RateLimitError),
        (500, "internal_error", InternalServerError),
        (503, "not_ready", InternalServerError),
    ],
)
def test_error_mapping(status: int, code: str, kind: type[APIStatusError]) -> None:
    answer = error(status, code, {"x-request-id": "req-1"})
    client = sync_client(Recorder(answer), max_retries=0)
    with pytest.raises(kind) as caught:
        client.inboxes.create()
    assert type(caught.value) is kind
    assert isinstance(caught.value, DispatchError)
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert caught.value.message == f"{code} here"
    assert caught.value.request_id == "req-1"
    assert caught.value.body == {"error": {"code": code, "message": f"{code} here"}}
    assert str(caught.value) == f"{status} {code}: {code} here"


def test_non_json_error_body() -> None:
    client = sync_client(
        Recorder(httpx.Response(502, text="Bad gateway from proxy")), max_retries=0
    )
    with pytest.raises(InternalServerError) as caught:
        client.inboxes.list()
    assert (caught.value.code, caught.value.message) == ("http_error", "Bad gateway from proxy")
    assert caught.value.request_id is None


def test_empty_error_body() -> None:
    client = sync_client(Recorder(httpx.Response(404)))
    with pytest.raises(NotFoundError, match="404 http_error: HTTP 404"):
        client.inboxes.get(INBOX_ID)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_errors_naming_the_location(status: int) -> None:
    answer = httpx.Response(
        status, headers={"location": "https://elsewhere.test/v1/inboxes", "x-request-id": "r-1"}
    )
    recorder = Recorder(answer)
    with pytest.raises(APIStatusError) as caught:
        sync_client(recorder).inboxes.list()
    assert type(caught.value) is APIStatusError
    assert (caught.value.status_code, caught.value.code) == (status, "redirect")
    assert "'https://elsewhere.test/v1/inboxes'" in str(caught.value)
    assert caught.value.request_id == "r-1"
    assert len(recorder.requests) == 1


def test_your_redirecting_client_drops_the_key_on_another_host() -> None:
    # With your own follow_redirects=True client, httpx (not the SDK) follows, and keeps the
    # Authorization header on the same origin only.
    recorder = Recorder(
        httpx.Response(307, headers={"location": "https://elsewhere.test/v1/inboxes"}),
        httpx.Response(200, json={"data": []}),
    )
    client = Dispatch(
        api_key=ACCOUNT,
        base_url="https://dispatch.test",
        http_client=httpx.Client(transport=httpx.MockTransport(recorder), follow_redirects=True),
    )
    assert client.inboxes.list() == []
    assert [recorder.auth(0), recorder.auth(1)] == [ACCOUNT, None]


def test_header_errors_from_httpx_do_not_quote_the_key() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {ACCOUNT}\\n'")

    recorder = Recorder(refuse)
    with pytest.raises(DispatchError, match="header value") as caught:
        sync_client(recorder).inboxes.list()
    assert type(caught.value) is DispatchError  # not "could not reach the server"
    assert "secret" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(recorder.requests) == 1  # not retried


def test_a_key_that_got_past_the_checks_is_still_not_shown() -> None:
    recorder = Recorder()
    client = sync_client(recorder)
    client._credentials.inbox_keys[INBOX_ID] = "clé.secret"  # bypasses Credentials.remember
    with pytest.raises(DispatchError, match="header value") as caught:
        client.messages.list(INBOX_ID)
    assert type(caught.value) is DispatchError
    assert "secret" not in str(caught.value) and caught.value.__cause__ is None


def test_errors_survive_pickle_and_copy() -> None:
    body = json.dumps({"error": {"code": "address_taken", "message": "taken"}}).encode()
    errors: list[DispatchError] = [
        status_error(409, body, {"x-request-id": "r-1"}),
        status_error(302, b"", {"location": "https://elsewhere.test/"}),
        APIStatusError("m", status_code=418, code="teapot", body=None, request_id=None),
        WaitTimeoutError("late"),
        APITimeoutError("slow"),
        DispatchError("plain"),
    ]
    errors[0].add_note("a note")
    for original in errors:
        for copied in (pickle.loads(pickle.dumps(original)), copy.copy(original)):
            assert type(copied) is type(original)
            assert (str(copied), copied.args) == (str(original), original.args)
            assert copied.__dict__ == original.__dict__
    restored = copy.deepcopy(errors[0])
    assert isinstance(restored, ConflictError)
    assert (restored.code, restored.request_id, restored.__notes__) == (
        "address_taken",
        "r-1",
        ["a note"],
    )


# --- retries ---------------------------------------------------------------------------


def test_retries_503_then_429_honouring_retry_after() -> None:
    recorder = Recorder(
        error(503, "unavailable", {"retry-after": "3"}),
        error(429, "rate_limited"),
        httpx.Response(200, json={"data": [INBOX]}),
    )
    client = sync_client(recorder)
    slept: list[float] = []
    client._driver.sleep = slept.append
    assert [i.id for i in client.inboxes.list()] == [INBOX_ID]
    assert len(recorder.requests) == 3
    assert slept[0] == 3.0
    assert 0.75 <= slept[1] <= 1.0  # the second backoff step, 1 s, minus jitter


def test_retry_after_as_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    recorder = Recorder(
        error(429, "rate_limited", {"retry-after": later}),
        error(503, "unavailable", {"retry-after": "60"}),
        httpx.Response(201, json=INBOX),
    )
    client = sync_client(recorder, max_retries=3)
    slept: list[float] = []
    client._driver.sleep = slept.append
    assert client.inboxes.create().id == INBOX_ID  # POSTs are retried on 429/503
    assert 15 <= slept[0] <= 20
    assert slept[1] == 60.0


@pytest.mark.parametrize(
    "value",
    [
        "3600",  # over 60 s: not trusted
        "-5",
        format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True),  # past
        "soon",
    ],
)
def test_unreasonable_retry_after_falls_back_to_backoff(value: str) -> None:
    response = calls.Response(status=503, headers={"retry-after": value}, content=b"")
    delays = [
        retry_delay(attempt, 9, Request(method="GET", path="/"), response=response)
        for attempt in (0, 2)
    ]
    assert delays[0] is not None and 0.375 <= delays[0] <= 0.5
    assert delays[1] is not None and 1.5 <= delays[1] <= 2.0


def test_retry_after_zero_means_now() -> None:
    response = calls.Response(status=429, headers={"retry-after": "0"}, content=b"")
    assert retry_delay(0, 2, Request(method="GET", path="/"), response=response) == 0


def test_gives_up_after_max_retries() -> None:
    recorder = Recorder(*[error(503, "unavailable") for _ in range(3)])
    with pytest.raises(InternalServerError):
        sync_client(recorder, max_retries=2).inboxes.list()
    assert len(recorder.requests) == 3


def test_max_retries_zero_sends_once() -> None:
    recorder = Recorder(error(502, "bad_gateway"))
    with pytest.raises(InternalServerError):
        sync_client(recorder, max_retries=0).inboxes.list()
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("status", "code"), [(409, "address_taken"), (500, "internal_error")])
def test_does_not_retry_other_statuses(status: int, code: str) -> None:
    recorder = Recorder(error(status, code))
    with pytest.raises(APIStatusError):
        sync_client(recorder).inboxes.create(local_part="x")
    assert len(recorder.requests) == 1


def test_retry_policy() -> None:
    get = Request(method="GET", path="/")
    post = Request(method="POST", path="/")
    long_poll = Request(method="GET", path="/wait", long_poll=True)

    def delay(request: Request, error: Exception, attempt: int = 0) -> float | None:
        return retry_delay(attempt, 2, request, error=error)

    assert delay(post, httpx.ConnectError("refused")) is not None  # never reached the server
    assert delay(post, httpx.ConnectTimeout("slow")) is not None
    assert delay(get, httpx.ReadTimeout("slow")) is not None
    assert delay(get, httpx.RemoteProtocolError("closed")) is not None
    assert delay(post, httpx.ReadTimeout("slow")) is None  # may have been processed
    assert delay(post, httpx.RemoteProtocolError("closed")) is None
    assert delay(long_poll, httpx.ReadTimeout("slow")) is None  # would overrun the wait
    assert delay(get, httpx.UnsupportedProtocol("ftp")) is None
    assert delay(get, httpx.ConnectError("refused"), attempt=2) is None
    backoffs = [retry_delay(n, 99, get, error=httpx.ConnectError("x")) for n in range(8)]
    assert all(b is not None and b <= MAX_DELAY for b in backoffs)
    assert backoffs[-1] is not None and backoffs[-1] >= MAX_DELAY * 0.75


def test_connection_errors_are_wrapped_after_retries() -> None:
    recorder = Recorder(*[raising(httpx.ConnectError)] * 3)
    with pytest.raises(APIConnectionError) as caught:
        sync_client(recorder).inboxes.create()
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(recorder.requests) == 3


def test_timeouts_retry_for_get_not_post() -> None:
    recorder = Recorder(raising(httpx.ReadTimeout), httpx.Response(200, json={"data": []}))
    client = sync_client(recorder)
    assert client.inboxes.list() == []
    assert len(recorder.requests) == 2
    recorder = Recorder(raising(httpx.ReadTimeout))
    with pytest.raises(APITimeoutError):
        sync_client(recorder).inboxes.create()
    assert len(recorder.requests) == 1


def test_long_poll_read_timeout_is_not_retried() -> None:
    recorder = Recorder(raising(httpx.ReadTimeout))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(APITimeoutError):
        client.messages.wait(INBOX_ID, timeout=5)
    assert len(recorder.requests) == 1


def test_real_sleep_is_used_by_default() -> None:
    recorder = Recorder(error(503, "unavailable", {"retry-after": "0"}), page())
    client = Dispatch(
        api_key=ACCOUNT,
        inbox_keys={INBOX_ID: MINTED},
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
    )
    assert client.messages.list(INBOX_ID).data == ()
    assert len(recorder.requests) == 2


def test_retries_stop_at_the_deadline_of_a_wait() -> None:
    recorder = Recorder(error(503, "unavailable", {"retry-after": "10"}))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    slept: list[float] = []
    client._driver.sleep = slept.append
    with pytest.raises(WaitTimeoutError, match="503 unavailable") as caught:
        client.otp.wait_for_otp(INBOX_ID, timeout=2)
    assert (slept, len(recorder.requests)) == ([], 1)  # no 10 s sleep for a 2 s wait
    assert str(caught.value).startswith(f"no message with an OTP arrived in inbox {INBOX_ID}")
    assert isinstance(caught.value.__cause__, WaitTimeoutError)


def test_retries_that_fit_before_the_deadline_still_happen() -> None:
    recorder = Recorder(raising(httpx.ConnectError), matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    slept: list[float] = []
    client._driver.sleep = slept.append
    assert client.otp.wait_for_otp(INBOX_ID, timeout=30) == "482913"
    assert len(slept) == 1 and len(recorder.requests) == 2


def test_the_deadline_covers_minting_during_a_wait() -> None:
    recorder = Recorder(error(403, "forbidden"), error(503, "unavailable", {"retry-after": "10"}))
    client = sync_client(recorder)
    slept: list[float] = []
    client._driver.sleep = slept.append
    with pytest.raises(InternalServerError):  # not a wait request: its last error stands
        client.messages.wait_for_message(INBOX_ID, timeout=2)
    assert slept == [] and recorder.paths == [f"/v1/inboxes/{INBOX_ID}/wait", KEYS]


def test_deadline_policy() -> None:
    busy = calls.Response(status=503, headers={"retry-after": "10"}, content=b"")
    soon = Request(method="POST", path="/", deadline=monotonic() + 2)
    later = attrs.evolve(soon, deadline=monotonic() + 60)
    assert next_delay(0, 2, later, response=busy) == 10
    assert next_delay(0, 2, soon, response=busy) is None  # give up: the 503 is raised
    assert next_delay(0, 2, attrs.evolve(soon, deadline=None), response=busy) == 10
    with pytest.raises(WaitTimeoutError, match="503 http_error") as caught:
        next_delay(0, 2, attrs.evolve(soon, long_poll=True), response=busy)
    assert isinstance(caught.value.__cause__, InternalServerError)
    with pytest.raises(WaitTimeoutError, match="could not reach"):
        next_delay(
            0, 2, attrs.evolve(soon, long_poll=True, deadline=0.0), error=httpx.ConnectError("x")
        )


# --- inbox keys ------------------------------------------------------------------------


def test_account_key_mints_an_inbox_key_once_and_caches_it() -> None:
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json=INBOX_KEY),
        page(message(1)),
        page(message(1)),
    )
    client = sync_client(recorder)
    assert client.messages.list(INBOX_ID).data[0].from_ == "Acme <a@acme.test>"
    assert client.messages.list(INBOX_ID).data[0].subject == "Message 1"
    assert recorder.paths == [MESSAGES, KEYS, MESSAGES, MESSAGES]
    assert [recorder.auth(i) for i in range(4)] == [ACCOUNT, ACCOUNT, MINTED, MINTED]
    assert recorder.requests[1].method == "POST"
    assert client.inbox_keys == {INBOX_ID: MINTED}


def test_preseeded_inbox_keys_are_used_directly() -> None:
    recorder = Recorder(page())
    sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.list(INBOX_ID)
    assert (recorder.paths, recorder.auth(0)) == ([MESSAGES], MINTED)


def test_a_key_that_cannot_mint_keeps_the_original_error() -> None:
    recorder = Recorder(error(403, "forbidden"), error(403, "forbidden"))
    client = sync_client(recorder)
    with pytest.raises(PermissionDeniedError):
        client.messages.list(INBOX_ID)
    assert recorder.paths == [MESSAGES, KEYS]
    assert client.inbox_keys == {}


def test_foreign_inbox_is_not_found() -> None:
    recorder = Recorder(error(403, "forbidden"), error(404, "not_found"))
    with pytest.raises(NotFoundError):
        sync_client(recorder).otp.latest(INBOX_ID)


def test_a_failed_mint_raises_its_own_error() -> None:
    recorder = Recorder(error(403, "forbidden"), error(500, "internal_error"))
    with pytest.raises(InternalServerError):
        sync_client(recorder).messages.list(INBOX_ID)


def test_a_revoked_cached_key_is_replaced() -> None:
    recorder = Recorder(
        error(401, "unauthorized"),
        error(403, "forbidden"),
        httpx.Response(201, json={**INBOX_KEY, "key": "new.key"}),
        page(),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: "old.key"})
    assert client.messages.list(INBOX_ID).data == ()
    assert [recorder.auth(i) for i in range(4)] == ["old.key", ACCOUNT, ACCOUNT, "new.key"]
    assert client.inbox_keys == {INBOX_ID: "new.key"}


def test_inbox_key_client_without_account_key_reports_401() -> None:
    recorder = Recorder(error(401, "unauthorized"))
    client = sync_client(recorder, api_key=MINTED, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(AuthenticationError):
        client.messages.list(INBOX_ID)
    assert len(recorder.requests) == 1


CONCURRENT_CALLS = 8


class NewInbox:
    """A server for concurrent first calls on one inbox: the account key gets 403 on the inbox
    route, and every such probe waits until all calls have had theirs, so all of them need a
    key at the same moment. Counts the keys minted."""

    def __init__(self) -> None:
        self.minted: list[str] = []

    def answer(self, request: httpx.Request) -> httpx.Response | None:
        """The answer, or None for a probe (which must wait for the others first)."""
        if request.method == "POST":
            self.minted.append(f"{MINTED}-{len(self.minted)}")
            return httpx.Response(201, json={**INBOX_KEY, "key": self.minted[-1]})
        if request.headers["authorization"] == f"Bearer {ACCOUNT}":
            return None
        return page()


def test_concurrent_threads_mint_one_inbox_key() -> None:
    server = NewInbox()
    probes = threading.Barrier(CONCURRENT_CALLS, timeout=10)
    guard = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with guard:
            answer = server.answer(request)
        if answer is not None:
            time.sleep(0.05)  # a slow mint: the other threads are waiting for a key meanwhile
            return answer
        probes.wait()
        return error(403, "forbidden")

    client = sync_client(handler)
    with ThreadPoolExecutor(CONCURRENT_CALLS) as pool:
        pages = list(pool.map(lambda _: client.messages.list(INBOX_ID), range(CONCURRENT_CALLS)))
    assert server.minted == [f"{MINTED}-0"]
    assert len(pages) == CONCURRENT_CALLS and not any(p.data for p in pages)
    assert client.inbox_keys == {INBOX_ID: f"{MINTED}-0"}


def test_a_replaced_key_is_not_forgotten_by_a_late_caller() -> None:
    credentials = calls.Credentials(api_key=ACCOUNT, inbox_keys={INBOX_ID: "new.key"})
    credentials.forget(INBOX_ID, "old.key")  # a call that still held the revoked key
    assert credentials.inbox_keys == {INBOX_ID: "new.key"}
    credentials.forget(INBOX_ID, "new.key")
    assert credentials.inbox_keys == {}


def test_a_malformed_minted_key_is_refused_without_showing_it() -> None:
    minted = httpx.Response(201, json={**INBOX_KEY, "key": "new\nkey.hunter2"})
    recorder = Recorder(error(403, "forbidden"), minted)
    with pytest.raises(DispatchError, match=f"inbox key for {INBOX_ID} is malformed") as caught:
        sync_client(recorder).messages.list(INBOX_ID)
    assert "hunter2" not in str(caught.value)


# --- paging ----------------------------------------------------------------------------


def test_auto_paging_follows_cursors() -> None:
    recorder = Recorder(
        page(message(1), message(2), cursor="c1"),
        page(message(3), message(4), cursor="c2"),
        page(message(5)),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    iterator = client.messages.iter(INBOX_ID, page_size=2, folder="all")
    assert recorder.requests == []  # lazy: nothing is fetched before iteration
    assert [m.id for m in iterator] == ["m1", "m2", "m3", "m4", "m5"]
    assert [r.url.params.get("cursor") for r in recorder.requests] == [None, "c1", "c2"]
    assert all(r.url.params["limit"] == "2" for r in recorder.requests)
    assert all(r.url.params["folder"] == "all" for r in recorder.requests)


def test_artifact_paging_and_kind_filter() -> None:
    recorder = Recorder(
        page(artifact("link", "https://a.test"), cursor="c1"), page(artifact("link", "https://b"))
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    values = [a.value for a in client.artifacts.iter(INBOX_ID, kind="link", page_size=1)]
    assert values == ["https://a.test", "https://b"]
    assert recorder.requests[1].url.path == f"/v1/inboxes/{INBOX_ID}/artifacts"
    assert dict(recorder.requests[1].url.params) == {"limit": "1", "kind": "link", "cursor": "c1"}


# --- waits -----------------------------------------------------------------------------


def unmatched(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"matched": False, "message": None, "otp": None, "link": None, "cursor": "cur"}
    )


def matched_otp(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "matched": True,
            "message": {**message(9), "artifacts": [artifact("otp", "482913")]},
            "otp": {
                "code": "482913",
                "message_id": "m9",
                "from": "a@acme.test",
                "subject": "s",
                "received_at": NOW,
            },
            "link": None,
            "cursor": "cur2",
        },
    )


def test_wait_for_otp_polls_until_a_match() -> None:
    recorder = Recorder(unmatched, unmatched, matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    since = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    got = client.otp.wait_for_otp(INBOX_ID, timeout=30, since=since, from_="acme", subject="code")
    assert got == "482913"
    assert len(recorder.requests) == 3
    for request in recorder.requests:
        params = request.url.params
        assert request.url.path == f"/v1/inboxes/{INBOX_ID}/wait"
        assert (params["kind"], params["from"], params["subject"]) == ("otp", "acme", "code")
        assert params["since"] == "2026-11-24T09:00:00Z"
        assert "after" not in params
        assert 0 < float(params["timeout"]) <= 30
        # the read timeout leaves room for the server-side wait
        assert request.extensions["timeout"]["read"] > float(params["timeout"])


def test_wait_rounds_are_capped_and_end_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(calls, "monotonic", lambda: clock[0])
    monkeypatch.setattr(transport, "monotonic", lambda: clock[0])

    def slow_unmatched(request: httpx.Request) -> httpx.Response:
        clock[0] += float(request.url.params["timeout"])  # the server waits the full round
        return unmatched(request)

    recorder = Recorder(*[slow_unmatched] * 3)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError) as caught:
        client.messages.wait_for_message(INBOX_ID, timeout=70, subject="hi")
    assert [float(r.url.params["timeout"]) for r in recorder.requests] == [25, 25, 20]
    assert all(r.url.params["kind"] == "message" for r in recorder.requests)
    assert str(caught.value) == f"no matching message arrived in inbox {INBOX_ID} within 70 s"


def test_wait_for_otp_times_out_with_a_clear_error() -> None:
    recorder = Recorder(unmatched)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError, match=INBOX_ID) as caught:
        client.otp.wait_for_otp(INBOX_ID, timeout=0)
    assert isinstance(caught.value, TimeoutError)
    assert "OTP" in str(caught.value) and "0 s" in str(caught.value)
    assert recorder.requests[0].url.params["timeout"] == "0.0"


def test_wait_for_message_returns_the_message() -> None:
    recorder = Recorder(matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    got = client.messages.wait_for_message(INBOX_ID, after="cur1")
    assert (got.id, got.otp) == ("m9", "482913")
    params = recorder.requests[0].url.params
    assert (params["after"], params["kind"], params["folder"]) == ("cur1", "message", "inbox")


def test_one_wait_round_can_be_unmatched() -> None:
    recorder = Recorder(unmatched)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    result = client.messages.wait(INBOX_ID, timeout=5, kind="link", folder="all")
    assert (result.matched, result.message, result.cursor) == (False, None, "cur")
    params = recorder.requests[0].url.params
    assert (params["kind"], params["folder"], params["timeout"]) == ("link", "all", "5")
    assert recorder.requests[0].extensions["timeout"]["read"] == 15


@pytest.mark.parametrize(
    ("since", "sent"),
    [
        (
            datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-24T09:00:00Z",
        ),
        ("2026-11-24T09:00:00+00:00", "2026-11-24T09:00:00+00:00"),
    ],
)
def test_since_is_sent_as_rfc3339_utc(since: datetime | str, sent: str) -> None:
    recorder = Recorder(unmatched)
    sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.wait(INBOX_ID, since=since)
    assert recorder.requests[0].url.params["since"] == sent


def test_wait_rejects_after_and_since_together() -> None:
    recorder = Recorder()
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(DispatchError, match="not both"):
        client.messages.wait(INBOX_ID, after="c", since="2026-11-24T00:00:00Z")
    assert recorder.requests == []


def matched_otp_at(cursor: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = matched_otp(request)
        return httpx.Response(200, json={**json.loads(answer.content), "cursor": cursor})

    return handler


def refuse_long_rounds(request: httpx.Request) -> httpx.Response:
    """An older server with DISPATCH_WAIT_MAX_SECONDS=10: a longer round is a 400."""
    if float(request.url.params["timeout"]) > 10:
        message = "timeout must be between 0 and 10"
        return httpx.Response(400, json={"error": {"code": "invalid_request", "message": message}})
    return matched_otp(request)


def test_rounds_are_halved_for_an_older_server_that_refuses_them() -> None:
    recorder = Recorder(*[refuse_long_rounds] * 4)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.otp.wait_for_otp(INBOX_ID, timeout=60) == "482913"
    assert client.otp.wait_for_otp(INBOX_ID, timeout=60) == "482913"
    # The second wait starts with the round length the server accepted.
    assert [float(r.url.params["timeout"]) for r in recorder.requests] == [25, 12.5, 6.25, 6.25]


def test_rounds_are_not_halved_below_the_floor() -> None:
    def refuse_all(request: httpx.Request) -> httpx.Response:
        message = "timeout must be between 0 and 0.5"
        return httpx.Response(400, json={"error": {"code": "invalid_request", "message": message}})

    recorder = Recorder(*[refuse_all] * 6)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(BadRequestError, match="timeout"):
        client.otp.wait_for_otp(INBOX_ID, timeout=60)
    sent = [float(r.url.params["timeout"]) for r in recorder.requests]
    assert sent == [25, 12.5, 6.25, 3.125, 1.562, 1.0]


def test_other_bad_requests_are_not_retried_as_rounds() -> None:
    recorder = Recorder(error(400, "invalid_cursor"))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(BadRequestError):
        client.otp.wait_for_otp(INBOX_ID, after="bogus")
    assert len(recorder.requests) == 1


@pytest.fixture
def local_time_utc_plus_5_30(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX form: UTC+5:30, no tz database needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_utc_plus_5_30")
def test_a_naive_since_is_local_time() -> None:
    recorder = Recorder(unmatched)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    client.messages.wait(INBOX_ID, since=datetime(2026, 11, 24, 14, 30))
    assert recorder.requests[0].url.params["since"] == "2026-11-24T09:00:00Z"


def test_wait_helpers_continue_after_the_message_they_returned() -> None:
    recorder = Recorder(
        matched_otp_at("c1"),
        unmatched,
        matched_otp_at("c2"),
        matched_otp_at("c3"),
        matched_otp_at("c4"),
        matched_otp_at("c5"),
        unmatched,
        matched_otp_at("c6"),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED, "other": MINTED})
    since = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    client.otp.wait_for_otp(INBOX_ID)  # the newest recent code
    with pytest.raises(WaitTimeoutError, match="pass since= to look back"):
        client.otp.wait_for_otp(INBOX_ID, timeout=0)  # the same code again? no: only a newer one
    client.otp.wait_for_otp(INBOX_ID)  # e.g. after "resend code"
    client.messages.wait_for_message(INBOX_ID)  # one position per inbox, for both helpers
    client.otp.wait_for_otp(INBOX_ID, since=since)  # since=: looks back, ignores the position
    client.otp.wait_for_otp(INBOX_ID, after="mine")  # an explicit cursor wins
    client.messages.wait(INBOX_ID)  # a single round neither uses nor moves the position
    client.otp.wait_for_otp("other")  # positions are per inbox
    sent = [(r.url.params.get("after"), r.url.params.get("since")) for r in recorder.requests]
    assert sent == [
        (None, None),
        ("c1", None),
        ("c1", None),
        ("c2", None),
        (None, "2026-11-24T09:00:00Z"),
        ("mine", None),
        (None, None),
        (None, None),
    ]
    assert client._waits.cursors == {INBOX_ID: "c5", "other": "c6"}
    again = Recorder(matched_otp)
    sync_client(again, inbox_keys={INBOX_ID: MINTED}).otp.wait_for_otp(INBOX_ID)
    assert "after" not in again.requests[0].url.params  # a new client starts with no position


def test_wait_for_otp_takes_after_and_rejects_it_with_since() -> None:
    recorder = Recorder(matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.otp.wait_for_otp(INBOX_ID, after="c0") == "482913"
    assert recorder.requests[0].url.params["after"] == "c0"
    with pytest.raises(DispatchError, match="not both"):
        client.otp.wait_for_otp(INBOX_ID, after="c0", since="2026-11-24T00:00:00Z")
    with pytest.raises(DispatchError, match="not both"):
        client.messages.wait_for_message(INBOX_ID, after="c0", since="2026-11-24T00:00:00Z")
    assert len(recorder.requests) == 1


def test_wait_helpers_pass_the_folder() -> None:
    recorder = Recorder(matched_otp, matched_otp, matched_otp)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    client.otp.wait_for_otp(INBOX_ID, folder="spam")
    client.messages.wait_for_message(INBOX_ID, folder="all")
    client.otp.wait_for_otp(INBOX_ID)
    assert [r.url.params["folder"] for r in recorder.requests] == ["spam", "all", "inbox"]


# --- async -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_client_shares_the_same_calls() -> None:
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json=INBOX_KEY),
        unmatched,
        matched_otp,
        page(message(1), cursor="c1"),
        page(message(2), cursor="c2"),
        page(message(3)),
        error(503, "unavailable"),
        httpx.Response(200, json={"data": [INBOX]}),
    )
    async with async_client(recorder) as client:
        assert await client.otp.wait_for_otp(INBOX_ID, timeout=10) == "482913"
        assert [m.id async for m in client.messages.iter(INBOX_ID)] == ["m1", "m2", "m3"]
        assert [i.id for i in await client.inboxes.list()] == [INBOX_ID]
    assert recorder.paths[:3] == [
        f"/v1/inboxes/{INBOX_ID}/wait",
        KEYS,
        f"/v1/inboxes/{INBOX_ID}/wait",
    ]
    assert [r.url.params.get("cursor") for r in recorder.requests[4:7]] == [None, "c1", "c2"]
    assert [recorder.auth(i) for i in range(9)] == [ACCOUNT] * 2 + [MINTED] * 5 + [ACCOUNT] * 2
    assert client.inbox_keys == {INBOX_ID: MINTED}


@pytest.mark.anyio
async def test_async_resources() -> None:
    raw = b"Subject: hi\r\n\r\nbody"
    recorder = Recorder(
        httpx.Response(201, json=INBOX),
        httpx.Response(200, json=INBOX),
        httpx.Response(201, json=INBOX_KEY),
        httpx.Response(200, json={**message(9), "artifacts": [artifact("otp", "1234")]}),
        httpx.Response(200, content=raw),
        httpx.Response(200, json={"otp": None}),
        page(artifact("link", "https://a.test")),
        page(artifact("otp", "1234")),
        unmatched,
    )
    async with async_client(recorder) as client:
        assert (await client.inboxes.create(display_name="Bot")).id == INBOX_ID
        assert (await client.inboxes.get(INBOX_ID)).address == "bot@dispatch.test"
        assert (await client.inboxes.create_key(INBOX_ID)).key == MINTED
        assert (await client.messages.get(INBOX_ID, "m9")).otp == "1234"
        assert await client.messages.raw(INBOX_ID, "m9") == raw
        assert await client.otp.latest(INBOX_ID) is None
        assert (await client.artifacts.list(INBOX_ID, kind="link")).data[0].kind == "link"
        assert [a.value async for a in client.artifacts.iter(INBOX_ID)] == ["1234"]
        assert not (await client.messages.wait(INBOX_ID, timeout=1)).matched
    assert json.loads(recorder.requests[0].content) == {"display_name": "Bot"}
    assert [recorder.auth(i) for i in range(3)] == [ACCOUNT] * 3
    assert all(recorder.auth(i) == MINTED for i in range(3, 9))


@pytest.mark.anyio
async def test_async_errors_retries_and_timeouts() -> None:
    async with async_client(Recorder(error(429, "quota_exceeded")), max_retries=0) as client:
        with pytest.raises(RateLimitError):
            await client.inboxes.create()

    recorder = Recorder(
        raising(httpx.ConnectError), error(502, "bad"), httpx.Response(201, json=INBOX)
    )
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with async_client(recorder) as client:
        client._driver.sleep = record_sleep
        assert (await client.inboxes.create()).id == INBOX_ID
    assert len(recorder.requests) == 3 and len(slept) == 2

    async with async_client(Recorder(unmatched), inbox_keys={INBOX_ID: MINTED}) as client:
        with pytest.raises(WaitTimeoutError, match=INBOX_ID):
            await client.messages.wait_for_message(INBOX_ID, timeout=0)


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


@pytest.mark.anyio
async def test_concurrent_tasks_mint_one_inbox_key() -> None:
    server = NewInbox()
    probes = asyncio.Barrier(CONCURRENT_CALLS)

    async def handler(request: httpx.Request) -> httpx.Response:
        answer = server.answer(request)
        if answer is not None:
            await asyncio.sleep(0.05)  # a slow mint: the other tasks are waiting meanwhile
            return answer
        await asyncio.wait_for(probes.wait(), 10)
        return error(403, "forbidden")

    async with async_client(handler) as client:
        pages = await asyncio.gather(
            *(client.messages.list(INBOX_ID) for _ in range(CONCURRENT_CALLS))
        )
    assert server.minted == [f"{MINTED}-0"]
    assert len(pages) == CONCURRENT_CALLS and not any(p.data for p in pages)
    assert client.inbox_keys == {INBOX_ID: f"{MINTED}-0"}


@pytest.mark.anyio
async def test_async_waits_remember_stop_at_deadlines_and_halve_rounds() -> None:
    recorder = Recorder(
        matched_otp_at("c1"),
        error(503, "unavailable", {"retry-after": "10"}),
        refuse_long_rounds,
        refuse_long_rounds,
        refuse_long_rounds,
    )
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with async_client(recorder, inbox_keys={INBOX_ID: MINTED}) as client:
        client._driver.sleep = record_sleep
        assert await client.otp.wait_for_otp(INBOX_ID, folder="spam") == "482913"
        with pytest.raises(WaitTimeoutError, match="503 unavailable"):
            await client.otp.wait_for_otp(INBOX_ID, timeout=2)
        message = await client.messages.wait_for_message(INBOX_ID, timeout=60)
        assert message.id == "m9"
    assert slept == []
    assert [r.url.params.get("after") for r in recorder.requests] == [None] + ["c1"] * 4
    assert [float(r.url.params["timeout"]) for r in recorder.requests[2:]] == [25, 12.5, 6.25]
    assert recorder.requests[0].url.params["folder"] == "spam"


@pytest.mark.anyio
async def test_a_closed_async_client_says_so() -> None:
    client = AsyncDispatch(api_key=ACCOUNT, base_url="http://dispatch.test")
    await client.aclose()
    with pytest.raises(DispatchError, match="client is closed"):
        await client.inboxes.list()
