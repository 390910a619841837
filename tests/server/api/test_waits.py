"""The server-side wait: timeouts, wake-ups, cursors, filters and what it counts as unmatched."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import INBOUND_TOKEN, LiveServer, _ServerThread, make_settings
from tests.helpers import InboxClient, cursor_token


def test_wait_times_out_with_a_normal_answer(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "wait-timeout")
    started = time.monotonic()
    response = inbox.get("/wait", timeout=0.3)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    body = response.json()
    assert body["matched"] is False and body["message"] is None and body["otp"] is None
    assert isinstance(body["cursor"], str)


def test_wait_wakes_immediately_on_ingest(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "wait-wake")
    since = datetime.now(UTC).isoformat()
    result: dict[str, object] = {}

    def waiter() -> None:
        result["response"] = inbox.get("/wait", kind="otp", since=since, timeout=20).json()
        result["at"] = time.monotonic()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    inbox.deliver(subject="Verify", text="Your verification code is 444555")
    delivered_at = time.monotonic()
    thread.join(timeout=25)
    body = result["response"]
    assert isinstance(body, dict)
    assert body["matched"] is True and body["otp"]["code"] == "444555"
    # far below the 5 s safety re-check: the ingest woke the waiter
    assert float(result["at"]) - delivered_at < 1.0  # type: ignore[arg-type]


def test_wait_returns_recent_match_without_waiting(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "wait-recent")
    inbox.deliver(text="Your code is 101010")
    newest = inbox.deliver(text="Your code is 202020")
    body = inbox.get("/wait", kind="otp", timeout=5).json()
    assert body["matched"] and body["message"]["id"] == newest and body["otp"]["code"] == "202020"


def test_wait_after_cursor_walks_forward_in_order(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "wait-after")
    first = inbox.get("/wait", timeout=0).json()
    a = inbox.deliver(subject="a")
    b = inbox.deliver(subject="b")
    step1 = inbox.get("/wait", after=first["cursor"], timeout=1).json()
    step2 = inbox.get("/wait", after=step1["cursor"], timeout=1).json()
    step3 = inbox.get("/wait", after=step2["cursor"], timeout=0.2).json()
    assert [step1["message"]["id"], step2["message"]["id"]] == [a, b]
    assert step3["matched"] is False and step3["cursor"] == step2["cursor"]


def test_wait_filters(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "wait-filter")
    inbox.deliver(subject="Newsletter", text="Read our news", **{"from": "news@shop.test"})
    inbox.deliver(subject="Your code", text="Your code is 555666", **{"from": "auth@acme.test"})
    inbox.deliver(
        subject="Confirm your email",
        text="Click https://acme.test/confirm?t=1",
        **{"from": "auth@acme.test"},
    )
    by_from = inbox.get("/wait", **{"from": "SHOP.test"}, timeout=0).json()
    assert by_from["message"]["subject"] == "Newsletter"
    by_subject = inbox.get("/wait", subject="code", timeout=0).json()
    assert by_subject["otp"]["code"] == "555666"
    by_kind = inbox.get("/wait", kind="link", timeout=0).json()
    assert by_kind["link"]["value"] == "https://acme.test/confirm?t=1"
    none = inbox.get("/wait", subject="100%_match", timeout=0).json()
    assert none["matched"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "sms"},
        {"timeout": "-1"},
        {"timeout": "nan"},
        {"timeout": "soon"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "9999-12-31T23:59:59-14:00"},
        {"after": cursor_token(["message", "0001-01-01T00:00:00+14:00", ""])},
        {"after": cursor_token(["message", "9999-12-31T23:59:59-14:00", ""])},
        {"after": cursor_token(["message", "2026-01-01T00:00:00+00:00", "a\x00b"])},
        {"after": cursor_token(["artifact", "2026-01-01T00:00:00+00:00", ""])},
        {"after": "zzz"},
        {"folder": "x"},
        {"after": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIiJd", "since": "2026-01-01T00:00:00Z"},
    ],
)
def test_wait_rejects_bad_parameters(live_server: LiveServer, params: dict[str, str]) -> None:
    inbox = InboxClient(live_server, f"wait-bad-{abs(hash(str(params))) % 10**8}")
    response = inbox.get("/wait", **params)
    assert response.status_code == 400, params
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_cursor")


def test_wait_accepts_extreme_but_valid_times(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "wait-extremes")
    newest = inbox.deliver(subject="hello")
    early = inbox.get("/wait", since="0001-01-01T00:00:00Z", timeout=0).json()
    assert early["matched"] and early["message"]["id"] == newest
    late = inbox.get("/wait", since="9999-12-31T23:59:59+00:00", timeout=0).json()
    assert late["matched"] is False
    assert inbox.get("/wait", after=late["cursor"], timeout=0).json()["matched"] is False


def test_wait_timeout_above_the_maximum_is_shortened_not_refused(database_url: str) -> None:
    thread = _ServerThread(make_settings(database_url, DISPATCH_WAIT_MAX_SECONDS=0.3))
    server = thread.start()
    try:
        inbox = InboxClient(server, "wait-clamp")
        started = time.monotonic()
        response = inbox.get("/wait", timeout=3600)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.json()["matched"] is False
        assert 0.3 <= elapsed < 5
        assert inbox.get("/wait", timeout="inf").status_code == 200
        message = inbox.deliver(subject="now")
        body = inbox.get("/wait", timeout=1e300).json()
        assert body["matched"] and body["message"]["id"] == message
    finally:
        thread.stop()


def test_wait_counts_the_mail_that_arrived_but_did_not_match(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "wait-unmatched")
    start = inbox.get("/wait", timeout=0).json()
    assert start["unmatched_count"] == 0
    inbox.deliver(subject="Weekly digest", text="nothing to see")
    inbox.deliver(subject="Your code", text="Your code is 818181", **{"from": "a@other.test"})
    inbox.deliver(subject="Spam", text="Your code is 929292", spam=True)  # another folder
    after = {"after": start["cursor"], "timeout": 0}
    by_subject = inbox.get("/wait", subject="login", **after).json()
    assert by_subject["matched"] is False and by_subject["unmatched_count"] == 2
    by_sender = inbox.get("/wait", kind="otp", **{"from": "github"}, **after).json()
    assert by_sender["matched"] is False and by_sender["unmatched_count"] == 2
    otp_only = inbox.get("/wait", kind="link", **after).json()
    assert otp_only["unmatched_count"] == 2
    matched = inbox.get("/wait", kind="otp", **after).json()
    assert matched["matched"] is True and matched["unmatched_count"] == 0
    since_window = inbox.get("/wait", subject="login", timeout=0).json()  # default lookback
    assert since_window["unmatched_count"] == 2


FORGED_SENDERS = [
    '"noreply@github.com" <attacker@evil.example>',
    "noreply github.com <attacker@evil.example>",
    "=?UTF-8?Q?noreply=40github=2Ecom?= <attacker@evil.example>",
    "=?UTF-8?B?bm9yZXBseUBnaXRodWIuY29t?= <attacker@evil.example>",
]


def _deliver_raw(inbox: InboxClient, sender: str, code: str) -> None:
    raw = (
        f"From: {sender}\r\nTo: {inbox.address}\r\nSubject: Your code\r\n"
        f"Message-ID: <{code}@evil.example>\r\n\r\nYour code is {code}\r\n"
    ).encode()
    response = httpx.post(
        f"{inbox.server.base_url}/v1/webhooks/inbound",
        params={"to": inbox.address},
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN, "content-type": "message/rfc822"},
        content=raw,
    )
    assert response.status_code == 201, response.text


def test_the_from_filter_reads_the_address_never_the_display_name(
    live_server: LiveServer,
) -> None:
    """A sender names itself anything: a wait for mail from github must not take a code from
    attacker@evil.example calling itself noreply@github.com, whether the wait looks in the
    database or judges a message as it arrives."""
    inbox = InboxClient(live_server, "wait-forged")
    for number, sender in enumerate(FORGED_SENDERS):
        _deliver_raw(inbox, sender, f"11122{number}")
    looked = inbox.get("/wait", kind="otp", **{"from": "github"}, timeout=0).json()
    assert looked["matched"] is False and looked["unmatched_count"] == len(FORGED_SENDERS)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            inbox.get, "/wait", kind="otp", **{"from": "github"}, after=looked["cursor"], timeout=5
        )
        time.sleep(0.3)  # the wait is open: what follows is judged as it arrives
        for number, sender in enumerate(FORGED_SENDERS):
            _deliver_raw(inbox, sender, f"44455{number}")
        _deliver_raw(inbox, "GitHub <noreply@github.com>", "777888")
        answer = waiting.result().json()
    assert answer["otp"]["code"] == "777888"


def test_a_large_answer_to_a_woken_wait_is_streamed(live_server: LiveServer) -> None:
    """Judged in memory or read from the database, a wait's answer with megabytes of body
    goes out in slices (the event loop free between two), and reads the same."""
    inbox = InboxClient(live_server, "wait-large")
    text = "Your code is 246810. " + "long body " * 200_000  # 2 MB
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(inbox.get, "/wait", kind="otp", timeout=5)
        time.sleep(0.3)  # the wait is open: the arrival is judged in memory
        message_id = inbox.deliver(subject="Big", text=text)
        woken = waiting.result()
    looked = inbox.get("/wait", kind="otp", timeout=0)  # the database's answer
    for answer in (woken, looked):
        assert answer.status_code == 200
        assert answer.headers.get("transfer-encoding") == "chunked", answer.headers
        assert answer.json()["message"]["id"] == message_id
    assert woken.json() == looked.json()


def _read_answer(conn: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP/1.1 answer with a content-length: its head and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += conn.recv(65536)
    return head, body


@pytest.mark.parametrize("close", [False, True])
def test_a_woken_waits_answer_is_a_whole_keep_alive_answer(
    live_server: LiveServer, close: bool
) -> None:
    """Woken waits are answered in the hub's turn, beneath their tasks: the answer is the one
    any request gets (request id, length, keep-alive or `connection: close`)."""
    inbox = InboxClient(live_server, f"wait-at-once-{int(close)}")
    key = inbox.client.headers["authorization"]
    host, port = live_server.base_url.removeprefix("http://").rsplit(":", 1)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(
            f"GET /v1/inboxes/{inbox.id}/wait?kind=otp&timeout=20&since={since} HTTP/1.1\r\n"
            f"host: test\r\nauthorization: {key}\r\nx-request-id: herd-{int(close)}\r\n"
            f"{'connection: close' if close else 'x-keep: alive'}\r\n\r\n".encode()
        )
        time.sleep(0.3)
        inbox.deliver(subject="Verify", text="Your verification code is 868686")
        head, body = _read_answer(conn)
        lines = head.lower().split(b"\r\n")
        assert lines[0] == b"http/1.1 200 ok"
        assert f"x-request-id: herd-{int(close)}".encode() in lines
        assert b"content-type: application/json" in lines
        answer = json.loads(body)
        assert answer["matched"] is True and answer["otp"]["code"] == "868686"
        if close:
            assert b"connection: close" in lines
            assert conn.recv(65536) == b""  # closed after the answer
            return
        conn.sendall(
            f"GET /v1/inboxes/{inbox.id}/wait?timeout=0 HTTP/1.1\r\nhost: test\r\n"
            f"authorization: {key}\r\n\r\n".encode()
        )
        head, body = _read_answer(conn)  # the connection goes on
        assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["matched"] is True
