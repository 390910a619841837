"""SDK behaviour against httpx.MockTransport: request shapes, decoding, errors, retries,
inbox-key minting, paging and wait loops, for the sync and the async client."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

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
from dispatch_client._calls import Request
from dispatch_client._transport import MAX_DELAY, retry_delay

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


def sync_client(recorder: Recorder, **kwargs: Any) -> Dispatch:
    kwargs.setdefault("api_key", ACCOUNT)
    client = Dispatch(
        base_url="http://dispatch.test",
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        **kwargs,
    )
    client._driver.sleep = lambda seconds: None
    return client


def async_client(recorder: Recorder, **kwargs: Any) -> AsyncDispatch:
    kwargs.setdefault("api_key", ACCOUNT)
    client = AsyncDispatch(
        base_url="http://dispatch.test",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
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
    assert got.links == ["https://acme.test/verify"]


def test_listed_messages_have_no_artifacts_by_default() -> None:
    recorder = Recorder(page(message(1), cursor="c1"))
    result = sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.list(
        INBOX_ID, limit=5, folder="spam", cursor="c0"
    )
    assert dict(recorder.requests[0].url.params) == {"limit": "5", "folder": "spam", "cursor": "c0"}
    assert result.next_cursor == "c1"
    assert result.data[0].artifacts == [] and result.data[0].otp is None


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


def test_retry_after_as_http_date_and_capped() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    recorder = Recorder(
        error(429, "rate_limited", {"retry-after": later}),
        error(503, "unavailable", {"retry-after": "3600"}),
        httpx.Response(201, json=INBOX),
    )
    client = sync_client(recorder)
    slept: list[float] = []
    client._driver.sleep = slept.append
    assert client.inboxes.create().id == INBOX_ID  # POSTs are retried on 429/503
    assert 15 <= slept[0] <= 20
    assert slept[1] == 30.0


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
    assert client.messages.list(INBOX_ID).data == []
    assert len(recorder.requests) == 2


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
    assert client.messages.list(INBOX_ID).data == []
    assert [recorder.auth(i) for i in range(4)] == ["old.key", ACCOUNT, ACCOUNT, "new.key"]
    assert client.inbox_keys == {INBOX_ID: "new.key"}


def test_inbox_key_client_without_account_key_reports_401() -> None:
    recorder = Recorder(error(401, "unauthorized"))
    client = sync_client(recorder, api_key=MINTED, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(AuthenticationError):
        client.messages.list(INBOX_ID)
    assert len(recorder.requests) == 1


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

    def slow_unmatched(request: httpx.Request) -> httpx.Response:
        clock[0] += float(request.url.params["timeout"])  # the server waits the full round
        return unmatched(request)

    recorder = Recorder(*[slow_unmatched] * 3)
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(WaitTimeoutError) as caught:
        client.messages.wait_for_message(INBOX_ID, timeout=70, subject="hi")
    assert [float(r.url.params["timeout"]) for r in recorder.requests] == [30, 30, 10]
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
        (datetime(2026, 11, 24, 9, 0), "2026-11-24T09:00:00Z"),  # naive: UTC
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
    assert (await client.messages.list(INBOX_ID)).data == []
    assert len(recorder.requests) == 2
    with pytest.raises(DispatchError, match="DISPATCH_API_KEY"):
        await client.inboxes.list()
    await client.aclose()
    assert not client._driver.client.is_closed  # not ours to close
