"""Many open waits at once: how soon each is answered after the ingest's 250, and what an
open wait costs the server in memory.

    python -m bench.wait_herd --waiters 10000 --inboxes 10000   # one wait per inbox
    python -m bench.wait_herd --waiters 1000 --inboxes 1        # a herd on one inbox
    python -m bench.wait_herd --database-url postgresql://postgres@127.0.0.1:5432/bench

Against a `dispatch-server dev` subprocess (SQLite in a temporary directory, or the given
PostgreSQL database, which must exist and is migrated). The bench opens `--waiters` raw
HTTP/1.1 keep-alive connections spread evenly over `--inboxes` inboxes, each with one
`GET /wait?kind=otp&since=…` in flight, then sends one OTP mail per inbox over
`--smtp-clients` SMTP connections and records, per waiter:
  after 250 = time its answer was read - time its inbox's mail got the SMTP 250
Memory: the server's RSS with every wait open, less its RSS before, per wait.
Target (2 cores): p99 <= 50 ms after the 250 for 10,000 waits on 10,000 inboxes and for
1,000 waits on one inbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import DevServer, otp_mail, percentile, start_dev_server

CONNECT_AT_ONCE = 100  # below the listen backlog, so no connection waits for a SYN retry


def raise_open_files(wanted: int) -> None:
    """Up the soft limit on open files (the server subprocess inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        raise SystemExit(f"need {wanted} open files, the hard limit is {hard}")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def make_inboxes(server: DevServer, count: int) -> list[tuple[str, str, str]]:
    """(id, address, inbox key) of `count` new inboxes."""
    headers = {"authorization": f"Bearer {server.account_key}"}
    made: list[tuple[str, str, str]] = []
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:

        async def one() -> None:
            inbox = (await client.post("/v1/inboxes", json={})).raise_for_status().json()
            key = await client.post(f"/v1/inboxes/{inbox['id']}/keys", json={})
            made.append((inbox["id"], inbox["address"], key.raise_for_status().json()["key"]))

        for start in range(0, count, 200):
            await asyncio.gather(*(one() for _ in range(min(200, count - start))))
    return made


class Waiter(asyncio.Protocol):
    """One keep-alive connection with one wait in flight. A protocol rather than a stream, so
    that reading 10,000 answers costs the bench little: an answer's time is taken when its
    last byte is read, and it is parsed afterwards."""

    def __init__(self, inbox_id: str, key: str, since: str) -> None:
        self.inbox_id = inbox_id
        self.request = (
            f"GET /v1/inboxes/{inbox_id}/wait?kind=otp&timeout=1800&since={since} HTTP/1.1\r\n"
            f"host: bench\r\nauthorization: Bearer {key}\r\n\r\n"
        ).encode()
        self.received = bytearray()
        self.answered_at = 0.0
        self.answered = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.received += data
        head_end = self.received.find(b"\r\n\r\n")
        if head_end < 0 or self.answered.done():
            return
        head = bytes(self.received[:head_end]).lower()
        length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        if len(self.received) >= head_end + 4 + length:
            self.answered_at = time.perf_counter()
            self.answered.set_result(None)  # the connection stays open, as a client's would

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_exception(exc or ConnectionError("closed before the answer"))

    def body(self) -> dict[str, object]:
        head_end = self.received.find(b"\r\n\r\n")
        parsed: dict[str, object] = json.loads(self.received[head_end + 4 :])
        return parsed


async def smtp_send(
    port: int, mails: list[tuple[str, str, bytes]], replied: dict[str, float]
) -> None:
    """Send each (inbox id, address, raw) on one SMTP connection; note when each got its 250."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if line[3:4] != b"-":
                if not line.startswith((b"2", b"3")):
                    raise RuntimeError(f"SMTP said {line!r}")
                return line

    await reply()
    writer.write(b"EHLO bench\r\n")
    await reply()
    for inbox_id, address, raw in mails:
        writer.write(f"MAIL FROM:<no-reply@acme.test>\r\nRCPT TO:<{address}>\r\nDATA\r\n".encode())
        for _ in range(3):
            await reply()
        data = raw.replace(b"\r\n.", b"\r\n..")
        writer.write(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        await reply()
        replied[inbox_id] = time.perf_counter()
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()


# Four commands a message: a connection carries 200, within the door's command cap
# (DISPATCH_SMTP_MAX_COMMANDS), then the client opens another, as an MTA would.
MESSAGES_PER_CONNECTION = 200


async def smtp_client(
    port: int, mails: list[tuple[str, str, bytes]], replied: dict[str, float]
) -> None:
    for start in range(0, len(mails), MESSAGES_PER_CONNECTION):
        await smtp_send(port, mails[start : start + MESSAGES_PER_CONNECTION], replied)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, server: DevServer) -> None:
    began = time.perf_counter()
    inboxes = await make_inboxes(server, args.inboxes)
    progress(f"{len(inboxes)} inboxes made in {time.perf_counter() - began:.1f} s")
    after: list[float] = []
    for number in range(args.rounds):
        round_after, per_wait, rss = await one_round(args, server, inboxes, serial=number)
        after += round_after
        progress(
            f"round {number + 1}: p50 {percentile(round_after, 50):.1f} ms, "
            f"p99 {percentile(round_after, 99):.1f} ms"
        )
        if number == 0:
            first_per_wait, first_rss = per_wait, rss
    rounds = f" in {args.rounds} rounds" if args.rounds > 1 else ""
    print(
        f"{args.waiters} waits on {len(inboxes)} inbox(es){rounds}: after 250 "
        f"min {min(after):.1f} ms, p50 {percentile(after, 50):.1f} ms, "
        f"p99 {percentile(after, 99):.1f} ms, max {max(after):.1f} ms; "
        f"server RSS {first_rss[0] / 2**20:.0f} -> {first_rss[1] / 2**20:.0f} MiB "
        f"({first_per_wait / 1024:.1f} KiB per open wait)"
    )


async def one_round(
    args: argparse.Namespace,
    server: DevServer,
    inboxes: list[tuple[str, str, str]],
    *,
    serial: int,
) -> tuple[list[float], float, tuple[int, int]]:
    """Open the waits, send one mail per inbox, and return each wait's time after the 250,
    the memory per open wait and the server's RSS before and with the waits open."""
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    waiters = [
        Waiter(inboxes[i % len(inboxes)][0], inboxes[i % len(inboxes)][2], since)
        for i in range(args.waiters)
    ]
    await asyncio.sleep(0.5)
    rss_before = rss_bytes(server.process.pid)
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    loop = asyncio.get_running_loop()

    async def open_one(waiter: Waiter) -> None:
        async with gate:
            await loop.create_connection(lambda: waiter, host, int(port))

    began = time.perf_counter()
    await asyncio.gather(*(open_one(w) for w in waiters))
    progress(f"{len(waiters)} waits opened in {time.perf_counter() - began:.1f} s")
    # Every request is sent; give the server time to read them all and subscribe.
    await asyncio.sleep(args.settle)
    rss_open = rss_bytes(server.process.pid)
    assert not any(w.answered.done() for w in waiters), "a wait was answered before any mail"

    first = serial * len(inboxes)
    mails = [
        (i, address, otp_mail(address, f"{100000 + first + n}", first + n))
        for n, (i, address, _) in enumerate(inboxes)
    ]
    codes = {inbox_id: f"{100000 + first + n}" for n, (inbox_id, _, _) in enumerate(inboxes)}
    replied: dict[str, float] = {}
    clients = max(1, min(args.smtp_clients, len(mails)))
    await asyncio.gather(
        *(smtp_client(server.smtp_port, mails[c::clients], replied) for c in range(clients))
    )
    await asyncio.wait_for(asyncio.gather(*(w.answered for w in waiters)), timeout=600)
    for waiter in waiters:
        assert waiter.transport is not None
        waiter.transport.close()

    for waiter in waiters:
        body = waiter.body()
        otp = body.get("otp")
        assert isinstance(otp, dict) and otp["code"] == codes[waiter.inbox_id], body
    after = [(w.answered_at - replied[w.inbox_id]) * 1000 for w in waiters]
    per_wait = (rss_open - rss_before) / len(waiters)
    return after, per_wait, (rss_before, rss_open)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--inboxes", type=int, default=1000)
    parser.add_argument("--smtp-clients", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=1, help="herds one after another, on the same server (1)"
    )
    parser.add_argument(
        "--settle", type=float, default=None, help="seconds for the waits to open (N/2000 + 1)"
    )
    parser.add_argument("--database-url", help="a PostgreSQL database instead of SQLite")
    args = parser.parse_args()
    if args.inboxes > args.waiters:
        parser.error("--inboxes must not exceed --waiters")
    if args.settle is None:
        args.settle = args.waiters / 2000 + 1
    raise_open_files(args.waiters + 1024)
    env = {"DISPATCH_DAILY_INBOUND_QUOTA": str(10**9), "DISPATCH_WAIT_MAX_SECONDS": "1800"}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    server = start_dev_server(env)
    try:
        asyncio.run(run(args, server))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
