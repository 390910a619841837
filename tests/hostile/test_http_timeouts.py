"""Slow clients on raw sockets: a request head or body that trickles in (or never comes) is
cut off by the server's deadlines, with a 408 where there is a request to answer, and many
half-open connections do not stay open. A real uvicorn, as `dispatch-server serve` runs it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from dispatch_server.app import create_app
from dispatch_server.cli._common import http_server
from tests.conftest import BACKENDS, fresh_database_url, make_settings
from tests.helpers import bearer, signup

TIMEOUT = 1.0  # both deadlines, so that the tests are quick
MIN_RATE = 1024
SLACK = 3.0  # what a shared machine may add to a deadline


class Server:
    def __init__(self, database_url: str) -> None:
        settings = make_settings(
            database_url,
            DISPATCH_HTTP_HEADER_TIMEOUT_SECONDS=TIMEOUT,
            DISPATCH_HTTP_BODY_TIMEOUT_SECONDS=TIMEOUT,
            DISPATCH_HTTP_BODY_MIN_BYTES_PER_SECOND=MIN_RATE,
        )
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        self.base_url = "http://{}:{}".format(*self.address)
        self.server = http_server(create_app(settings), settings.http)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "no server"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=TIMEOUT + SLACK)

    @property
    def open_connections(self) -> int:
        return len(self.server.server_state.connections)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    running = Server(next(urls)).start()
    try:
        yield running
    finally:
        running.stop()
        next(urls, None)


def read_until_closed(conn: socket.socket, answered: threading.Event | None = None) -> bytes:
    """Everything the server sends until it closes the connection (a socket.timeout if it
    keeps it open past the deadline and the slack); `answered` is set on the first bytes."""
    answer = b""
    try:
        while chunk := conn.recv(65536):
            answer += chunk
            if answered is not None:
                answered.set()
    except ConnectionResetError:  # a byte the client sent after the server closed: an RST
        pass
    return answer


def read_response(conn: socket.socket) -> bytes:
    """One response with a Content-Length, read whole."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += conn.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def trickle(conn: socket.socket, data: bytes, *, every: float, stop: threading.Event) -> None:
    """Send `data` a byte at a time until the server closes the connection."""
    for byte in data:
        if stop.wait(every):
            return
        try:
            conn.send(bytes([byte]))
        except OSError:
            return


def trickled_answer(conn: socket.socket, data: bytes, *, every: float) -> bytes:
    """What the server answers while `data` trickles in from another thread, a byte every
    `every` seconds, until it closes the connection."""
    stop = threading.Event()
    sender = threading.Thread(
        target=trickle, args=(conn, data), kwargs={"every": every, "stop": stop}
    )
    sender.start()
    try:
        return read_until_closed(conn, stop)
    finally:
        stop.set()
        sender.join()


def answered_408(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    started = time.monotonic()
    with server.connect() as conn:
        assert read_until_closed(conn) == b""
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_a_trickling_request_head_is_cut_off_with_408(server: Server) -> None:
    """Slowloris: headers a byte every 0.2 s, each byte well within any idle timeout."""
    started = time.monotonic()
    with server.connect() as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        answer = trickled_answer(conn, b"X-Slow: " + b"a" * 1000, every=0.2)
    answered_408(answer)
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_pipelined_requests_are_answered_and_a_late_next_head_gets_408(server: Server) -> None:
    """Two whole requests in one send get both their answers; a third head cut short in the
    same send is the next request, whose head came in part: 408 once its time is up."""
    started = time.monotonic()
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with server.connect() as conn:
        conn.sendall(health + health + b"GET /health HTTP/1.1\r\nHo")
        answer = read_until_closed(conn)
    answers = answer.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"200", b"408"], answer
    answered_408(b"HTTP/1.1 " + answers[2])
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_the_head_deadline_starts_again_after_each_answer(server: Server) -> None:
    """On a kept connection each request head has its own time, from the previous answer."""
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with server.connect() as conn:
        for _ in range(3):
            time.sleep(TIMEOUT * 0.6)  # three of them outlast one deadline in all
            conn.sendall(health)
            assert read_response(conn).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        answer = read_until_closed(conn)  # then nothing: closed, no 408 (no head began)
    assert answer == b""
    assert time.monotonic() - started < TIMEOUT + SLACK


def signup_head(length: int) -> bytes:
    return (
        "POST /v1/agent/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_stalled_body_gets_408_and_the_connection_closes(server: Server) -> None:
    started = time.monotonic()
    with server.connect() as conn:
        conn.sendall(signup_head(1000) + b'{"name": "')
        answer = read_until_closed(conn)
    answered_408(answer)
    assert b"x-request-id" in answer.lower()  # answered by the app, like any error
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_a_body_trickling_below_the_minimum_rate_gets_408(server: Server) -> None:
    """A byte every 0.2 s never stalls for the body timeout, but averages 5 bytes a second."""
    started = time.monotonic()
    with server.connect() as conn:
        conn.sendall(signup_head(1000))
        answer = trickled_answer(conn, b" " * 1000, every=0.2)
    answered_408(answer)
    assert time.monotonic() - started < 2 * TIMEOUT + SLACK


def test_a_slow_body_above_the_minimum_rate_is_read(server: Server) -> None:
    """8 KiB in pieces over 2 s (4 KiB a second): longer than the body timeout in all, but
    never stalling and above the minimum rate."""
    body = b'{"name": "slow"' + b" " * (8 * 1024) + b"}"
    with server.connect() as conn:
        conn.sendall(signup_head(len(body)))
        for start in range(0, len(body), 512):
            conn.sendall(body[start : start + 512])
            time.sleep(2 / (len(body) / 512))
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201"), answer


def test_a_long_wait_is_not_a_slow_request(server: Server) -> None:
    """The deadlines are for reading the request: the app may take its time to answer."""
    account = signup(server.base_url)
    response = httpx.get(
        f"{server.base_url}/v1/inboxes/{account['inbox']['id']}/wait",
        params={"timeout": 2 * TIMEOUT + 1},
        headers=bearer(account["inbox_key"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["matched"] is False


def test_many_half_open_connections_are_all_closed(server: Server) -> None:
    """200 connections: nothing, half a head, or a head and half a signup body each."""
    partial = [b"", b"GET /health HTTP/1.1\r\nHo", signup_head(16 * 1024) + b"{" + b" " * 8000]
    conns = [server.connect() for _ in range(200)]
    try:
        for number, conn in enumerate(conns):
            conn.sendall(partial[number % len(partial)])
        # They were held open, not refused: the most seen at once. On a loaded machine the
        # first ones reach their 1 s deadline while the last are still being opened (CI saw
        # 64 at one moment, 144 at most), so half of them is the bar, not all.
        seen, until = 0, time.monotonic() + 0.5
        while time.monotonic() < until:
            seen = max(seen, server.open_connections)
            time.sleep(0.01)
        assert seen >= 100, seen
        deadline = time.monotonic() + TIMEOUT + SLACK
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.open_connections == 0
        for conn in conns:
            read_until_closed(conn)  # closed from the server's side too
    finally:
        for conn in conns:
            conn.close()


def test_an_anonymous_body_is_small(server: Server) -> None:
    """Signup reads its body before any key is checked: what it holds per connection is the
    JSON body limit, 16 KiB, so 500 half-sent signups hold 8 MiB, not 500."""
    body = b'{"name": "big"' + b" " * (16 * 1024) + b"}"
    response = httpx.post(
        f"{server.base_url}/v1/agent/signup",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (413, "payload_too_large")


def test_a_request_head_over_16_kib_gets_431_and_the_connection_closes(server: Server) -> None:
    """httptools would read a head of any size: 2 MB of headers sent as fast as the socket
    takes them are cut off at 16 KiB, not held until the head deadline."""
    with server.connect() as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        try:
            for n in range(2000):
                conn.sendall(b"X-Big-%d: %s\r\n" % (n, b"a" * 1000))
        except OSError:  # the server closed the connection while we were still sending
            pass
        answer = read_until_closed(conn)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:200]
    assert json.loads(body)["error"]["code"] == "head_too_large"


def test_a_head_under_the_limit_is_read(server: Server) -> None:
    with server.connect() as conn:
        headers = b"".join(b"X-H-%d: %s\r\n" % (n, b"a" * 1000) for n in range(14))
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        assert read_response(conn).startswith(b"HTTP/1.1 200")


# Requests that parsers disagree on (request smuggling) or that break the grammar: each is
# refused with a 400 and the connection closed (llhttp is strict); never a 500, and never a
# second request hidden in the first one's body.
SMUGGLING = {
    "content-length and chunked": (
        b"POST /v1/agent/signup HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    ),
    "two content-lengths": (
        b"POST /v1/agent/signup HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 40\r\n\r\n{}"
    ),
    "obsolete line folding": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "space before the colon": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n",
    "bad chunk size": (
        b"POST /v1/agent/signup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n"
    ),
    "control character in a header name": b"GET /health HTTP/1.1\r\nHost: x\r\nX\x01A: b\r\n\r\n",
    "NUL in the request line": b"GET /hea\x00lth HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_ambiguous_requests_are_refused(server: Server, name: str) -> None:
    with server.connect() as conn:
        conn.sendall(SMUGGLING[name])
        answer = read_until_closed(conn)  # each is refused, and the connection closed
    statuses = [
        line.split(b" ")[1] for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")
    ]
    assert statuses == [b"400"], answer
