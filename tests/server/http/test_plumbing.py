"""Request plumbing without a server: the bounded body reader, JSON checks, query choices,
cursors, timestamps and the request id."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message

from dispatch_server.app import create_app
from dispatch_server.core.clock import parse_timestamp
from dispatch_server.core.errors import DomainError
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.core.pagination import Cursor
from dispatch_server.http import params
from dispatch_server.http.context import request_id
from dispatch_server.http.errors import STATUS
from dispatch_server.http.middleware.request_id import RequestId
from dispatch_server.http.params import MAX_JSON_BODY, body_too_large, json_object, read_body
from dispatch_server.ingest.pipeline import MessageTooLarge
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


class Upload:
    """An ASGI request body sent in chunks, counting how much of it the app pulled."""

    def __init__(self, body: bytes, *, chunk: int = 64 * 1024, content_length: int | None = None):
        self.chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        self.pulled = 0
        headers = [(b"content-type", b"application/json")]
        if content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))
        self.request = Request(
            {"type": "http", "method": "POST", "path": "/", "headers": headers}, self.receive
        )

    async def receive(self) -> Message:
        chunk = self.chunks.pop(0)
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}


async def test_a_declared_length_above_the_limit_is_refused_before_reading() -> None:
    upload = Upload(b"x" * 100, content_length=400 * 1024 * 1024)
    with pytest.raises(DomainError) as caught:
        await read_body(upload.request, limit=1000, too_large=body_too_large(1000))
    assert (STATUS[caught.value.code], caught.value.code) == (413, "payload_too_large")
    assert upload.pulled == 0


async def test_an_undeclared_body_is_read_only_until_it_passes_the_limit() -> None:
    upload = Upload(b"x" * (5 * 1024 * 1024), chunk=1024)
    with pytest.raises(DomainError) as caught:
        await read_body(upload.request, limit=10 * 1024, too_large=MessageTooLarge("too large"))
    assert (STATUS[caught.value.code], caught.value.code) == (413, "message_too_large")
    assert upload.pulled == 11 * 1024  # the chunk that crossed the limit, and no more


async def test_a_body_within_the_limit_is_read_whole() -> None:
    upload = Upload(b"y" * 3000, chunk=1000, content_length=3000)
    assert (
        await read_body(upload.request, limit=3000, too_large=body_too_large(3000)) == b"y" * 3000
    )


async def test_a_client_gone_mid_body_is_a_400_not_a_server_error() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    request = Request(Upload(b"").request.scope, receive)
    with pytest.raises(DomainError) as caught:
        await read_body(request, limit=1000, too_large=body_too_large(1000))
    assert STATUS[caught.value.code] == 400


async def test_json_object_uses_the_bounded_reader() -> None:
    upload = Upload(b" " * (MAX_JSON_BODY + 1), chunk=256 * 1024)
    with pytest.raises(DomainError) as caught:
        await json_object(upload.request)
    assert caught.value.code == "payload_too_large"
    assert upload.pulled <= MAX_JSON_BODY + 256 * 1024


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"name": "\ud800"}',
        rb'{"name": "a\udfffb"}',
        rb'{"\udc00": 1}',
        rb'{"a": [{"b": ["\ud83d"]}]}',
        rb'{"name": "a\u0000b"}',
        b"[" * 15_000,  # deeper than json.loads goes, within the body limit
        b'{"a":' * 3_000,
    ],
)
async def test_json_object_refuses_what_would_fail_later(raw: bytes) -> None:
    with pytest.raises(DomainError) as caught:
        await json_object(Upload(raw).request)
    assert (STATUS[caught.value.code], caught.value.code) == (400, "invalid_request")


async def test_json_object_accepts_surrogate_pairs_and_escaped_backslashes() -> None:
    body = await json_object(Upload(rb'{"name": "\ud83d\ude00 caf\u00e9", "x": "\\u0000"}').request)
    assert body == {"name": "\U0001f600 café", "x": "\\u0000"}


def _query_request(query: bytes) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": query}
    )


def test_query_choice() -> None:
    choices = ("otp", "link")
    optional = params.choice("kind", choices, default=None)
    with_default = params.choice("kind", choices, default="otp")
    assert optional.read(_query_request(b"")) is None
    assert with_default.read(_query_request(b"kind=")) == "otp"
    assert optional.read(_query_request(b"kind=link")) == "link"
    with pytest.raises(DomainError) as caught:
        optional.read(_query_request(b"kind=sms"))
    assert STATUS[caught.value.code] == 400 and "otp, link" in caught.value.message
    assert caught.value.param == "kind"


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2026-01-01T00:00:00",
        "2026-13-01T00:00:00Z",
        "yesterday",
    ],
)
def test_parse_timestamp_refuses_with_a_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(raw)


def test_parse_timestamp_converts_to_utc() -> None:
    moment = parse_timestamp("2026-01-01T02:00:00+02:00")
    assert moment == datetime(2026, 1, 1, tzinfo=UTC) and moment.tzinfo is UTC
    assert parse_timestamp("0001-01-01T00:00:00Z") == datetime(1, 1, 1, tzinfo=UTC)


def _token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_cursor_round_trip_and_kind() -> None:
    cursor = Cursor("artifact", datetime(2026, 1, 1, tzinfo=UTC), new_id())
    assert Cursor.decode(cursor.encode(), "artifact") == cursor
    with pytest.raises(DomainError) as caught:
        Cursor.decode(cursor.encode(), "message")
    assert (STATUS[caught.value.code], caught.value.code) == (400, "invalid_cursor")
    assert Cursor.decode(_token(["message", "2026-01-01T00:00:00Z", ""]), "message").id == ""


@pytest.mark.parametrize(
    "payload",
    [
        ["message", "0001-01-01T00:00:00+14:00", ""],
        ["message", "9999-12-31T23:59:59-14:00", ""],
        ["message", "2026-01-01T00:00:00+00:00", "abc\x00def"],
        ["message", "2026-01-01T00:00:00+00:00", "not-an-id"],
        ["message", "2026-01-01T00:00:00+00:00", new_id().upper()],
        ["2026-01-01T00:00:00+00:00", ""],  # the old, untagged form
        {"message": 1, "2026-01-01T00:00:00+00:00": 2, "": 3},
        ["message", 7, ""],
        "[" * 5000,
    ],
)
def test_cursor_decode_refuses_forged_payloads(payload: Any) -> None:
    token = _token(payload) if not isinstance(payload, str) else _token_raw(payload)
    with pytest.raises(DomainError) as caught:
        Cursor.decode(token, "message")
    assert (STATUS[caught.value.code], caught.value.code) == (400, "invalid_cursor")


def _token_raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_ids_have_one_form() -> None:
    assert is_id(new_id())
    assert not is_id("") and not is_id(new_id() + "\x00")


async def _call(app: Any, incoming_id: bytes | None = None, path: str = "/") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {b"x-request-id": incoming_id} if incoming_id is not None else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def _echo_id(scope: Any, receive: Any, send: Any) -> None:
    response = Response(request_id(Request(scope)) or "")
    await response(scope, receive, send)


async def test_request_id_is_generated_or_echoed() -> None:
    app = RequestId(_echo_id)
    fresh = await _call(app)
    assert len(fresh.headers["x-request-id"]) == 32 and fresh.text == fresh.headers["x-request-id"]
    other = await _call(app)
    assert other.headers["x-request-id"] != fresh.headers["x-request-id"]
    echoed = await _call(app, b"lb-1234.abc")
    assert echoed.headers["x-request-id"] == echoed.text == "lb-1234.abc"
    for bad in (b"has space", b"x" * 129, b"tab\tbed", "ü".encode(), b"a;b"):
        replaced = await _call(app, bad)
        assert replaced.headers["x-request-id"].encode() != bad
        assert len(replaced.headers.get_list("x-request-id")) == 1


async def test_server_errors_carry_and_log_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"))
    app.router.routes.append(Route("/boom", boom))
    with caplog.at_level(logging.ERROR, logger="dispatch_server.http"):
        response = await _call(app, b"trace-42", "/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"] == "trace-42"
    assert "trace-42" in caplog.text
