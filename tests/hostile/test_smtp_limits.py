"""The SMTP door against clients that try to make it hold too much: recipients, lines,
commands, connections, time and memory. Raw sockets, so that a test can say exactly what
the client sends and see exactly what comes back."""

from __future__ import annotations

import asyncio
import logging
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from dispatch_server.config import Settings
from dispatch_server.ingest.doors.smtp import SmtpDoor
from dispatch_server.ingest.doors.smtp.limits import MALLOC_TRIM, ByteBudget
from dispatch_server.services import Services
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, make_mail, signup

MAX_MESSAGE_BYTES = 1_500_000
MAX_BUFFERED_BYTES = 3_000_000


class Wire:
    """One client connection, spoken to line by line."""

    def __init__(self, host: str, port: int, *, source: str | None = None) -> None:
        self.sock = socket.create_connection(
            (host, port), timeout=10, source_address=None if source is None else (source, 0)
        )
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; unanswered: {self.pending!r}")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\r\n", 1)
        return line

    def reply(self) -> str:
        """The next reply, all its lines joined by newlines."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return "\n".join(line.decode() for line in lines)

    def say(self, command: str) -> str:
        self.send(command.encode() + b"\r\n")
        return self.reply()

    def is_closed(self, within: float = 5.0) -> bool:
        """Whether the server closes the connection (sending nothing more) within a while."""
        self.sock.settimeout(within)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def greeted(server: LiveServer, source: str | None = None) -> Wire:
    wire = Wire(server.smtp_host, server.smtp_port, source=source)
    assert wire.reply().startswith("220 ")
    return wire


def stored(server: LiveServer, account: dict[str, object]) -> list[dict[str, object]]:
    inbox = account["inbox"]
    assert isinstance(inbox, dict)
    response = httpx.get(
        f"{server.base_url}/v1/inboxes/{inbox['id']}/messages?folder=all",
        headers=bearer(str(account["inbox_key"])),
    )
    assert response.status_code == 200
    data: list[dict[str, object]] = response.json()["data"]
    return data


LIMITS = {
    "DISPATCH_SMTP_MAX_COMMANDS": 50,
    "DISPATCH_SMTP_MAX_CONNECTIONS": 8,
    "DISPATCH_SMTP_MAX_CONNECTIONS_PER_CLIENT": 4,
    "DISPATCH_MAX_MESSAGE_BYTES": MAX_MESSAGE_BYTES,
    "DISPATCH_SMTP_MAX_BUFFERED_BYTES": MAX_BUFFERED_BYTES,
}


@pytest.fixture(scope="module", params=BACKENDS)
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server with small SMTP limits."""
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    thread = _ServerThread(make_settings(next(urls), **LIMITS))
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def test_a_command_line_without_end_is_refused_at_the_limit_and_closed(
    limited: LiveServer,
) -> None:
    wire = greeted(limited)
    wire.send(b"NOOP " + b"x" * 100_000)  # no CRLF, ever
    assert wire.reply() == "500 5.5.2 Line too long"
    assert wire.is_closed()


def test_a_data_line_without_end_is_refused_at_the_limit_and_closed(limited: LiveServer) -> None:
    account = signup(limited.base_url, local_part="long-line")
    wire = greeted(limited)
    for command in (
        "EHLO client.test",
        "MAIL FROM:<a@acme.test>",
        "RCPT TO:<long-line@dispatch.test>",
    ):
        assert wire.say(command).startswith("250")
    assert wire.say("DATA").startswith("354")
    wire.send(b"Subject: long\r\n\r\n" + b"y" * 100_000)
    assert wire.reply() == "500 5.5.2 Line too long"
    assert wire.is_closed()
    assert stored(limited, account) == []


def test_lines_at_the_limit_are_accepted_and_one_more_octet_is_not(limited: LiveServer) -> None:
    account = signup(limited.base_url, local_part="edge-line")
    for extra, expected in ((0, "250"), (1, "500")):
        wire = greeted(limited)
        for command in (
            "EHLO c.test",
            "MAIL FROM:<a@acme.test>",
            "RCPT TO:<edge-line@dispatch.test>",
        ):
            assert wire.say(command).startswith("250")
        assert wire.say("DATA").startswith("354")
        # 998 octets and CRLF is RFC 5321's longest line; its leading dot is stuffed: 1001.
        line = b".." + b"z" * (997 + extra) + b"\r\n"
        mail = make_mail("edge-line@dispatch.test", text=f"edge {extra}").rstrip(b"\r\n")
        wire.send(mail + b"\r\n" + line + b".\r\n")
        assert wire.reply()[:3] == expected
        wire.close()
    [message] = stored(limited, account)
    assert "edge 0" in str(message["preview"])


def test_commands_beyond_the_cap_get_421_and_a_close(limited: LiveServer) -> None:
    wire = greeted(limited)
    wire.send(b"NOOP\r\n" * 60)  # pipelined
    replies = [wire.reply() for _ in range(51)]
    assert replies[:50] == ["250 OK"] * 50
    assert replies[50] == "421 4.7.0 Too many commands"
    assert wire.is_closed()


def test_bad_commands_beyond_the_cap_get_421_and_a_close(limited: LiveServer) -> None:
    wire = greeted(limited)
    wire.send(b"\r\n" * 30)  # each a syntax error, which aiosmtpd alone answers forever
    replies = [wire.reply() for _ in range(21)]
    assert all(reply.startswith("500 ") for reply in replies[:20])
    assert replies[20] == "421 4.7.0 Too many errors"
    assert wire.is_closed()


def test_a_flood_of_connections_leaves_http_up_and_logs_once(
    limited: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dispatch_server.smtp")
    flood = [
        socket.create_connection(
            (limited.smtp_host, limited.smtp_port), source_address=(f"127.0.1.{n % 50 + 1}", 0)
        )
        for n in range(400)
    ]
    try:
        assert httpx.get(f"{limited.base_url}/health", timeout=5).status_code == 200
        for sock in flood:
            sock.settimeout(5)
            assert sock.recv(100).startswith((b"220 ", b"421 "))
    finally:
        for sock in flood:
            sock.close()
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(refusals) <= 2
    assert until_greeted(limited).say("QUIT").startswith("221")


def test_connections_beyond_the_caps_get_421_and_a_close(limited: LiveServer) -> None:
    mine = [greeted(limited) for _ in range(4)]
    extra = Wire(limited.smtp_host, limited.smtp_port)
    assert extra.reply() == "421 4.7.0 Too many connections, try again later"
    assert extra.is_closed()
    # Other clients still get in, up to the total cap.
    others = [greeted(limited, source=f"127.0.0.{n}") for n in (2, 3, 4, 5)]
    beyond = Wire(limited.smtp_host, limited.smtp_port, source="127.0.0.6")
    assert beyond.reply().startswith("421 4.7.0")
    assert beyond.is_closed()
    # A connection that ends makes room.
    mine.pop().close()
    assert until_greeted(limited).say("QUIT").startswith("221")
    for wire in mine + others:
        wire.close()


def until_greeted(server: LiveServer, within: float = 5.0) -> Wire:
    deadline = time.monotonic() + within
    while True:
        wire = Wire(server.smtp_host, server.smtp_port)
        if wire.reply().startswith("220 "):
            return wire
        wire.close()
        assert time.monotonic() < deadline, "no connection admitted"
        time.sleep(0.05)


class DoorThread:
    """The SMTP door alone on an event loop in a thread, so that a test can read its state."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        async with await Services.open(self.settings, listen=False) as services:
            self.door = SmtpDoor(services)
            server = await self.door.start()
            self.port = server.sockets[0].getsockname()[1]
            self.loop = asyncio.get_running_loop()
            self.stopping = asyncio.Event()
            self.started.set()
            await self.stopping.wait()
            server.close()
            await server.wait_closed()

    def start(self) -> DoorThread:
        self.thread.start()
        assert self.started.wait(10), "the SMTP door did not start"
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)


def test_concurrent_data_stays_within_the_byte_budget(limited: LiveServer) -> None:
    """Six sessions each send a 1 MB message at once, with room for about three: those that
    would pass the budget are told to retry (421, or a reset), the others are stored, and
    nothing stays reserved afterwards."""
    account = signup(limited.base_url, local_part="budget")
    door = DoorThread(limited.settings).start()
    sessions = 6
    halfway = threading.Barrier(sessions, timeout=30)
    outcomes: list[str] = []

    def send(n: int) -> None:
        body = (f"message {n}\r\n" + ("m" * 998 + "\r\n") * 1000).encode()
        mail = make_mail("budget@dispatch.test", subject=f"budget {n}").rstrip(b"\r\n") + b"\r\n"
        data = mail + body + b".\r\n"
        wire = Wire("127.0.0.1", door.port, source=f"127.0.2.{n + 1}")  # per-client cap
        waited = False
        try:
            assert wire.reply().startswith("220")
            for command in (
                "EHLO c.test",
                "MAIL FROM:<a@acme.test>",
                "RCPT TO:<budget@dispatch.test>",
            ):
                assert wire.say(command).startswith("250")
            reply = wire.say("DATA")
            if not reply.startswith("354"):
                outcomes.append(reply)
                return
            half = len(data) * 2 // 3
            wire.send(data[:half])
            waited = True
            halfway.wait()
            wire.send(data[half:])
            outcomes.append(wire.reply())
        except (ConnectionError, EOFError):
            outcomes.append("reset")
        finally:
            if not waited:
                halfway.wait()
            wire.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(sessions)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        door.stop()
    budget = door.door.state.buffers
    accepted = [o for o in outcomes if o.startswith("250")]
    refused = [o for o in outcomes if not o.startswith("250")]
    assert len(outcomes) == sessions
    assert accepted and refused
    assert all(o == "reset" or o[:9] in ("421 4.3.1", "452 4.3.1") for o in refused), refused
    assert MAX_MESSAGE_BYTES < budget.peak <= MAX_BUFFERED_BYTES
    assert budget.in_use == 0
    assert len(stored(limited, account)) == len(accepted)


@pytest.fixture
def impatient(database_url: str) -> Iterator[LiveServer]:
    """A server whose SMTP sessions time out after a second idle, two in all."""
    thread = _ServerThread(
        make_settings(
            database_url,
            DISPATCH_SMTP_IDLE_TIMEOUT_SECONDS=1,
            DISPATCH_SMTP_SESSION_TIMEOUT_SECONDS=2,
        )
    )
    try:
        yield thread.start()
    finally:
        thread.stop()


def test_idle_and_long_sessions_are_closed(impatient: LiveServer) -> None:
    idle = greeted(impatient)
    started = time.monotonic()
    assert idle.is_closed(within=5)
    assert 0.5 < time.monotonic() - started < 3
    busy = greeted(impatient)
    started = time.monotonic()
    replies = []
    try:
        while time.monotonic() - started < 6:  # busy: a command every 0.2 s
            replies.append(busy.say("NOOP"))
            time.sleep(0.2)
    except (ConnectionError, EOFError):
        pass
    assert 1.5 < time.monotonic() - started < 4
    assert replies[-1] == "421 4.4.2 Session too long, closing"


OUT_OF_DESCRIPTORS = """
import asyncio, logging, resource, sys
logging.basicConfig(level=logging.WARNING)
import dispatch_server.ingest.doors.smtp  # what the door sets up for the process's logging
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

async def main() -> None:
    server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3)

asyncio.run(main())
"""


def test_running_out_of_descriptors_does_not_flood_the_log() -> None:
    """Python 3.11's loop logs each failed accept(), up to 100 a turn, with a traceback."""
    child = subprocess.Popen(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    port = int(child.stdout.readline())
    clients = []
    for _ in range(150):  # the listen backlog (100) completes them, accepted or not
        try:
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    _, errors = child.communicate(timeout=20)
    for client in clients:
        client.close()
    assert len(clients) > 64
    assert 1 <= errors.count("socket.accept() out of system resource") <= 2


def test_large_releases_give_memory_back_to_the_system() -> None:
    given_back: list[int] = []
    budget = ByteBudget(8 << 20, give_back=lambda: given_back.append(budget.in_use))
    assert budget.reserve(3 << 20) and budget.reserve(2 << 20)
    budget.release(2 << 20)  # large: given back (the first within the second)
    budget.release(3 << 20)  # nothing left held: given back
    assert budget.reserve(4096)
    budget.release(4096)  # small: kept for reuse
    assert given_back == [3 << 20, 0]
    if platform.libc_ver()[0] == "glibc":
        assert MALLOC_TRIM is not None
