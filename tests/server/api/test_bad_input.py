"""Bad input on every route is a clear 4xx: NUL characters, oversized or unstorable JSON,
bad list parameters."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, error_code, signup


def test_nul_characters_are_a_400_not_a_database_error(live_server: LiveServer) -> None:
    result = signup(live_server.base_url)
    inbox_key = bearer(result["inbox_key"])
    base = f"{live_server.base_url}/v1/inboxes/{result['inbox']['id']}"
    for response in (
        httpx.get(f"{base}/wait?timeout=0&subject=a%00b", headers=inbox_key),
        httpx.get(f"{live_server.base_url}/v1/inboxes/a%00b/messages", headers=inbox_key),
        httpx.post(f"{live_server.base_url}/v1/agent/signup", json={"name": "a\u0000b"}),
    ):
        assert response.status_code == 400, response.text
        assert error_code(response) == "invalid_request"


def test_an_oversized_json_body_is_refused_before_it_is_sent(live_server: LiveServer) -> None:
    """The server answers 413 on the declared length, without waiting for (or buffering) the
    400 MB it announces."""
    host, port = live_server.base_url.removeprefix("http://").split(":")
    head = (
        "POST /v1/agent/signup HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {400 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(head.encode() + b'{"name": "')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "payload_too_large"


def test_an_oversized_streamed_json_body_is_413(live_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(64):
            yield b"x" * 65536

    response = httpx.post(f"{live_server.base_url}/v1/agent/signup", content=chunks())
    assert (response.status_code, error_code(response)) == (413, "payload_too_large")


def _post_raw(url: str, raw: bytes, key: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", **(bearer(key) if key else {})}
    return httpx.post(url, content=raw, headers=headers)


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"name": "\ud800"}',
        rb'{"name": "x\udfff"}',
        rb'{"local_part": "\udc80abc"}',
        b"[" * 15_000,  # deeper than json.loads goes, within the body limit
        b'{"name":' * 1_900,
    ],
)
def test_json_that_cannot_be_stored_is_400_on_signup(live_server: LiveServer, raw: bytes) -> None:
    response = _post_raw(f"{live_server.base_url}/v1/agent/signup", raw)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")


def test_lone_surrogates_are_400_on_every_json_route(live_server: LiveServer) -> None:
    base = live_server.base_url
    account = signup(base)
    key = account["account_key"]
    inbox = f"{base}/v1/inboxes/{account['inbox']['id']}"
    for url, raw, field in (
        (f"{base}/v1/inboxes", rb'{"display_name": "Bot \ud83d"}', "display_name"),
        (f"{inbox}/keys", rb'{"label": "\ude00"}', "label"),
        (f"{base}/v1/inboxes", rb'{"local_part": "a\u0000"}', "local_part"),
        (f"{base}/v1/inboxes", rb'{"display_name": {"x": ["\u0000"]}}', "display_name"),
    ):
        response = _post_raw(url, raw, key)
        assert (response.status_code, error_code(response)) == (400, "invalid_request"), url
        assert response.json()["error"]["param"] == field, raw
    # a proper surrogate pair is an ordinary character
    response = _post_raw(f"{base}/v1/inboxes", rb'{"display_name": "Bot \ud83d\ude00"}', key)
    assert response.status_code == 201
    assert response.json()["display_name"] == "Bot \U0001f600"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=x",
        "limit=1_0",
        "limit=%203%20",
        "limit=9" + "9" * 30,
        "folder=bin",
        "cursor=%%%",
        "cursor=bm9wZQ",
    ],
)
def test_bad_list_parameters_are_400(live_server: LiveServer, query: str) -> None:
    result = signup(live_server.base_url)
    response = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{result['inbox']['id']}/messages?{query}",
        headers=bearer(result["inbox_key"]),
    )
    assert response.status_code == 400
    assert error_code(response) in ("invalid_request", "invalid_cursor")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": ' + b"9" * 5000 + b"}",
        b'{"name": -' + b"1" * 10000 + b"}",
        b'{"label": [' + b"7" * 4301 + b"]}",
    ],
)
def test_numbers_too_long_to_read_are_400_on_every_json_route(
    live_server: LiveServer, raw: bytes
) -> None:
    """Python refuses to read integers of more than 4300 digits; that is the client's error."""
    account = signup(live_server.base_url)
    base, key = live_server.base_url, account["account_key"]
    for url, auth in (
        (f"{base}/v1/agent/signup", None),
        (f"{base}/v1/inboxes", key),
        (f"{base}/v1/inboxes/{account['inbox']['id']}/keys", key),
    ):
        response = _post_raw(url, raw, auth)
        assert (response.status_code, error_code(response)) == (400, "invalid_request"), url
    webhook = httpx.post(
        f"{base}/v1/webhooks/inbound",
        content=raw,
        headers={"content-type": "application/json", "x-dispatch-inbound-token": INBOUND_TOKEN},
    )
    assert (webhook.status_code, error_code(webhook)) == (400, "invalid_request")
