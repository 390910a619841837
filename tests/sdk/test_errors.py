"""Errors: status mapping, error fields, connection errors that name what was tried, argument
errors raised before sending, keys never shown, pickling."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import socket
import traceback
from collections.abc import Callable

import httpx
import pytest

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
    IdempotencyConflictError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RecipientSuppressedError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from dispatch_client._errors import status_error
from tests.sdk.helpers import (
    ACCOUNT,
    INBOX_ID,
    MINTED,
    Recorder,
    async_client,
    error,
    page,
    raising,
    sync_client,
)


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
        (409, "idempotency_key_reused", IdempotencyConflictError),
        (409, "idempotency_key_in_use", IdempotencyConflictError),
        (413, "message_too_large", PayloadTooLargeError),
        (422, "unparseable_message", UnprocessableEntityError),
        (422, "recipient_suppressed", RecipientSuppressedError),
        (429, "rate_limited", RateLimitError),
        (429, "quota_exceeded", QuotaExceededError),
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
    assert caught.value.param is None
    assert caught.value.body == {"error": {"code": code, "message": f"{code} here"}}
    assert str(caught.value) == f"{status} {code}: {code} here"


def test_a_quota_exceeded_names_its_quota_and_when_it_resets() -> None:
    answer = error(429, "quota_exceeded", {"retry-after": "40000"}, param="daily_recipients")
    recorder = Recorder(answer)
    with pytest.raises(QuotaExceededError) as caught:
        sync_client(recorder).inboxes.create()
    assert isinstance(caught.value, RateLimitError)
    assert caught.value.quota == caught.value.param == "daily_recipients"
    assert caught.value.retry_after == 40000.0
    assert len(recorder.requests) == 1  # hours away: raised at once, not retried


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12.0), ("0", 0.0), ("-3", 0.0), ("nan", None), ("inf", None), ("soon", None)],
)
def test_retry_after_on_a_rate_limit_error(value: str, expected: float | None) -> None:
    raised = status_error(429, b"", {"retry-after": value})
    assert isinstance(raised, RateLimitError) and raised.retry_after == expected
    assert isinstance(status_error(429, b"", {}), RateLimitError)
    assert getattr(status_error(429, b"", {}), "retry_after", "missing") is None


def test_a_code_keeps_the_class_of_its_status() -> None:
    """A code with a class of its own under another status (a proxy's, an older server's)
    is the class of the status."""
    for status, code, kind in [
        (400, "quota_exceeded", BadRequestError),
        (409, "recipient_suppressed", ConflictError),
        (503, "idempotency_key_in_use", InternalServerError),
    ]:
        body = json.dumps({"error": {"code": code, "message": "m"}}).encode()
        assert type(status_error(status, body, {})) is kind


def test_the_param_at_fault_comes_from_the_body() -> None:
    recorder = Recorder(
        error(400, "invalid_request", param="local_part"),
        httpx.Response(400, json={"error": {"code": "invalid_request", "param": 5}}),
    )
    client = sync_client(recorder)
    with pytest.raises(BadRequestError) as caught:
        client.inboxes.create(local_part="-")
    assert caught.value.param == "local_part"
    with pytest.raises(BadRequestError) as caught:
        client.inboxes.create()
    assert caught.value.param is None  # not a field name: ignored, the body keeps it


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
        page(),
    )
    client = Dispatch(
        api_key=ACCOUNT,
        base_url="https://dispatch.test",
        http_client=httpx.Client(transport=httpx.MockTransport(recorder), follow_redirects=True),
    )
    assert client.inboxes.list().data == ()
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


def test_an_extra_header_httpx_refuses_is_not_shown() -> None:
    client = sync_client(Recorder())
    with pytest.raises(DispatchError, match="header value") as caught:
        client.inboxes.list(extra_headers={"X-Note": "clé"})
    assert "clé" not in str(caught.value)


# --- connection errors -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_connection_errors_name_what_was_tried_the_same_in_both_clients() -> None:
    base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    expected = (
        f"could not reach the Dispatch server at {base_url} (GET /v1/inboxes): connection refused"
    )
    with (
        Dispatch(api_key=ACCOUNT, base_url=base_url, max_retries=0) as client,
        pytest.raises(APIConnectionError) as sync_caught,
    ):
        client.inboxes.list()

    async def call_async() -> None:
        async with AsyncDispatch(api_key=ACCOUNT, base_url=base_url, max_retries=0) as client:
            await client.inboxes.list()

    with pytest.raises(APIConnectionError) as async_caught:
        asyncio.run(call_async())
    for caught in (sync_caught.value, async_caught.value):
        assert str(caught) == expected
        assert (caught.method, caught.url) == ("GET", f"{base_url}/v1/inboxes?limit=50")
        assert isinstance(caught.original, httpx.ConnectError)  # kept, for debugging
        assert caught.__cause__ is None and caught.__suppress_context__  # not chained
        shown = "".join(traceback.format_exception(caught))
        assert "httpcore" not in shown and "During handling" not in shown


def test_an_unknown_host_is_named_as_such() -> None:
    def unresolvable(request: httpx.Request) -> httpx.Response:
        try:  # as httpcore raises it
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as cause:
            raise httpx.ConnectError(str(cause), request=request) from cause

    client = sync_client(Recorder(unresolvable), max_retries=0)
    with pytest.raises(APIConnectionError) as caught:
        client.inboxes.create()
    assert str(caught.value) == (
        "could not reach the Dispatch server at http://dispatch.test (POST /v1/inboxes): "
        "could not resolve the host name (Name or service not known)"
    )


@pytest.mark.parametrize(
    ("raised", "kind", "reason"),
    [
        (httpx.ConnectTimeout, APITimeoutError, "timed out connecting"),
        (httpx.ReadTimeout, APITimeoutError, "timed out waiting for the answer"),
        (httpx.WriteTimeout, APITimeoutError, "timed out sending the request"),
        (httpx.PoolTimeout, APITimeoutError, "timed out waiting for a free connection"),
        (httpx.RemoteProtocolError, APIConnectionError, "boom"),
    ],
)
def test_timeouts_and_broken_connections_name_what_was_tried(
    raised: type[httpx.TransportError], kind: type[APIConnectionError], reason: str
) -> None:
    client = sync_client(Recorder(raising(raised)), max_retries=0)
    with pytest.raises(kind) as caught:
        client.inboxes.create()
    assert type(caught.value) is kind
    assert "Dispatch server at http://dispatch.test (POST /v1/inboxes)" in str(caught.value)
    assert str(caught.value).endswith(f": {reason}")
    assert (caught.value.method, caught.value.url) == ("POST", "http://dispatch.test/v1/inboxes")
    assert isinstance(caught.value.original, raised)


@pytest.mark.anyio
async def test_async_timeouts_read_the_same() -> None:
    async with async_client(Recorder(raising(httpx.ReadTimeout)), max_retries=0) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.inboxes.create()
    assert str(caught.value) == (
        "the Dispatch server at http://dispatch.test (POST /v1/inboxes) did not answer in time: "
        "timed out waiting for the answer"
    )


# --- argument errors -------------------------------------------------------------------

Call = Callable[[Dispatch], object]


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda d: d.messages.list(INBOX_ID, limit=0), "limit"),
        (lambda d: d.messages.list(INBOX_ID, limit=101), "limit"),
        (lambda d: d.messages.list(INBOX_ID, limit=True), "limit"),
        (lambda d: d.artifacts.list(INBOX_ID, limit=-5), "limit"),
        (lambda d: d.inboxes.list(limit=1000), "limit"),
        (lambda d: d.inboxes.keys.list(INBOX_ID, limit=0), "limit"),
        (lambda d: d.otp.wait_for_otp(INBOX_ID, timeout=-1), "timeout"),
        (lambda d: d.messages.wait_for_message(INBOX_ID, timeout=-0.5), "timeout"),
        (lambda d: d.messages.wait(INBOX_ID, timeout=-1), "timeout"),
        (lambda d: d.messages.wait(INBOX_ID, timeout=float("nan")), "timeout"),
        (lambda d: d.otp.latest(INBOX_ID, timeout=0), "timeout"),
        (lambda d: d.otp.latest(INBOX_ID, max_retries=-1), "max_retries"),
        (lambda d: d.messages.get(INBOX_ID, "", timeout=5), "message_id"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(call: Call, param: str) -> None:
    recorder = Recorder()
    with pytest.raises(InvalidArgumentError) as caught:
        call(sync_client(recorder, inbox_keys={INBOX_ID: MINTED}))
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, DispatchError)
    assert caught.value.param == param
    assert param in str(caught.value)
    assert recorder.requests == []


def test_argument_errors_say_the_allowed_range() -> None:
    client = sync_client(Recorder())
    with pytest.raises(
        InvalidArgumentError, match=r"^limit must be an integer from 1 to 100, got 0$"
    ):
        client.inboxes.list(limit=0)
    with pytest.raises(
        InvalidArgumentError, match=r"^timeout must be a number of seconds, 0 or more, got -1$"
    ):
        client.otp.wait_for_otp(INBOX_ID, timeout=-1)


@pytest.mark.anyio
async def test_async_argument_errors_come_before_any_request() -> None:
    recorder = Recorder()
    async with async_client(recorder) as client:
        with pytest.raises(InvalidArgumentError, match="limit"):
            await client.messages.list(INBOX_ID, limit=0)
        with pytest.raises(InvalidArgumentError, match="limit"):
            async for _ in client.artifacts.list(INBOX_ID, limit=500):
                pass
        with pytest.raises(InvalidArgumentError, match="timeout"):
            await client.otp.wait_for_otp(INBOX_ID, timeout=-1)
    assert recorder.requests == []


# --- pickling --------------------------------------------------------------------------


def test_errors_survive_pickle_and_copy() -> None:
    body = json.dumps(
        {"error": {"code": "address_taken", "message": "taken", "param": "local_part"}}
    ).encode()
    errors: list[DispatchError] = [
        status_error(409, body, {"x-request-id": "r-1"}),
        status_error(302, b"", {"location": "https://elsewhere.test/"}),
        APIStatusError("m", status_code=418, code="teapot", body=None, request_id=None),
        WaitTimeoutError(
            "late", inbox_id=INBOX_ID, timeout=3, filters={"subject": "x"}, unmatched_count=2
        ),
        APITimeoutError("slow", method="GET", url="http://dispatch.test/v1/inboxes"),
        APIConnectionError(
            "down",
            method="POST",
            url="http://dispatch.test/v1/inboxes",
            original=httpx.ConnectError("refused"),
        ),
        InvalidArgumentError("bad limit", param="limit"),
        DispatchError("plain"),
        status_error(
            429,
            json.dumps(
                {"error": {"code": "quota_exceeded", "message": "m", "param": "daily_sends"}}
            ).encode(),
            {"retry-after": "40000"},
        ),
    ]
    errors[0].add_note("a note")
    for original in errors:
        for copied in (pickle.loads(pickle.dumps(original)), copy.copy(original)):
            assert type(copied) is type(original)
            assert (str(copied), copied.args) == (str(original), original.args)
            assert copied.__dict__.keys() == original.__dict__.keys()
            for name, value in original.__dict__.items():
                if isinstance(value, Exception):  # exceptions do not compare equal
                    assert repr(getattr(copied, name)) == repr(value)
                else:
                    assert getattr(copied, name) == value
    restored = copy.deepcopy(errors[0])
    assert isinstance(restored, ConflictError)
    assert (restored.code, restored.param, restored.request_id, restored.__notes__) == (
        "address_taken",
        "local_part",
        "r-1",
        ["a note"],
    )
