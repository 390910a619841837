"""Many open event streams on one server process: what a stream costs in memory, and how
soon a message's `message.received` reaches every stream after its commit.

    python -m bench.sse_streams                  # 10,000 streams
    python -m bench.sse_streams --streams 1000 --messages 5
    python -m bench.sse_streams --database-url postgresql://postgres@127.0.0.1:5432/bench

Against a `dispatch-server dev` subprocess (SQLite in a temporary directory, or the given
PostgreSQL database, which must exist and is migrated). The bench opens `--streams` raw
HTTP/1.1 connections, each a `GET /v1/events` of the dev workspace (account key), waits
until each has its opening frame, reads the server's RSS, then delivers `--messages` mails
one after another through the inbound webhook (`POST /v1/webhooks/inbound`) and records,
per stream and message:
  after 201 = time the stream read the message's frame - time the webhook answered 201
(the 201 follows the commit, so this slightly underestimates; `from send` is the upper
bound, from just before the POST). Memory: RSS with every stream open, less RSS before,
per stream. The bench and the server share the machine's cores: the load generator reads
every frame of every stream too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import httpx

from bench.common import DevServer, percentile, start_dev_server
from bench.wait_herd import CONNECT_AT_ONCE, raise_open_files, rss_bytes

MARK = b"event: message.received"


class Stream(asyncio.Protocol):
    """One event stream on a raw connection: notes when each message.received frame came.
    A protocol, not a stream reader, so that reading 10,000 streams costs the bench little."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.tail = b""
        self.status_ok = False
        self.arrivals: list[float] = []
        loop = asyncio.get_running_loop()
        self.opened = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        seen = self.tail + data
        if not self.opened.done():
            if not self.status_ok:
                if not data.startswith(b"HTTP/1.1 200"):
                    self.opened.set_exception(RuntimeError(data[:200].decode()))
                    return
                self.status_ok = True
            if b"retry:" in seen:
                self.opened.set_result(None)
        self.arrivals.extend([now] * seen.count(MARK))
        self.tail = seen[-(len(MARK) - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("closed")
        if not self.opened.done():
            self.opened.set_exception(self.lost)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, server: DevServer) -> dict[str, float]:
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    headers = {"authorization": f"Bearer {server.account_key}"}
    token = (server.data_dir / "inbound-token").read_text().strip()
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=120) as http:
        inbox = (await http.get("/v1/inboxes")).raise_for_status().json()["data"][0]
        await asyncio.sleep(0.5)
        rss_before = rss_bytes(server.process.pid)
        request = (
            f"GET /v1/events?types=message.received HTTP/1.1\r\nhost: bench\r\n"
            f"authorization: Bearer {server.account_key}\r\naccept: text/event-stream\r\n\r\n"
        ).encode()
        streams = [Stream(request) for _ in range(args.streams)]
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)
        loop = asyncio.get_running_loop()

        async def open_one(stream: Stream) -> None:
            async with gate:
                await loop.create_connection(lambda: stream, host, int(port))
                await stream.opened

        began = time.perf_counter()
        await asyncio.gather(*(open_one(s) for s in streams))
        opened_in = time.perf_counter() - began
        progress(f"{len(streams)} streams open in {opened_in:.1f} s")
        await asyncio.sleep(args.settle)
        rss_open = rss_bytes(server.process.pid)

        sent: list[float] = []
        answered: list[float] = []
        for number in range(args.messages):
            sent.append(time.perf_counter())
            response = await http.post(
                "/v1/webhooks/inbound",
                headers={"x-dispatch-inbound-token": token},
                json={"to": inbox["address"], "subject": f"n{number}", "text": "code 482913"},
            )
            answered.append(time.perf_counter())
            assert response.status_code == 201, response.text
            deadline = time.perf_counter() + 300
            while any(len(s.arrivals) <= number for s in streams):
                if time.perf_counter() > deadline:
                    late = sum(len(s.arrivals) <= number for s in streams)
                    raise RuntimeError(f"{late} streams never got message {number}")
                await asyncio.sleep(0.005)
            last = max(s.arrivals[number] for s in streams)
            progress(
                f"message {number + 1}: on every stream "
                f"{1000 * (last - answered[-1]):.0f} ms after its 201"
            )
            await asyncio.sleep(args.gap)
        lost = [s for s in streams if s.lost is not None]
        assert not lost, f"{len(lost)} streams closed: {lost[0].lost!r}"
        for stream in streams:
            assert stream.transport is not None
            stream.transport.close()

    after = [(s.arrivals[n] - answered[n]) * 1000 for s in streams for n in range(args.messages)]
    send = [(s.arrivals[n] - sent[n]) * 1000 for s in streams for n in range(args.messages)]
    every = [
        (max(s.arrivals[n] for s in streams) - answered[n]) * 1000 for n in range(args.messages)
    ]
    result = {
        "streams": float(args.streams),
        "messages": float(args.messages),
        "opened_seconds": opened_in,
        "rss_before_mib": rss_before / 2**20,
        "rss_open_mib": rss_open / 2**20,
        "kib_per_stream": (rss_open - rss_before) / len(streams) / 1024,
        "after_201_p50_ms": percentile(after, 50),
        "after_201_p99_ms": percentile(after, 99),
        "after_201_max_ms": max(after),
        "from_send_p50_ms": percentile(send, 50),
        "from_send_p99_ms": percentile(send, 99),
        "every_stream_ms_max": max(every),
    }
    print(
        f"{args.streams} streams x {args.messages} messages: after the 201 "
        f"p50 {result['after_201_p50_ms']:.0f} ms, p99 {result['after_201_p99_ms']:.0f} ms, "
        f"max {result['after_201_max_ms']:.0f} ms (from send p50 {result['from_send_p50_ms']:.0f}"
        f", p99 {result['from_send_p99_ms']:.0f} ms); server RSS {result['rss_before_mib']:.0f}"
        f" -> {result['rss_open_mib']:.0f} MiB ({result['kib_per_stream']:.1f} KiB per stream)"
    )
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=5, help="mails, one after another (5)")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between mails (1)")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds after opening, before RSS (2)"
    )
    parser.add_argument("--database-url", help="a PostgreSQL database instead of SQLite")
    args = parser.parse_args()
    raise_open_files(args.streams + 1024)
    env = {
        "DISPATCH_DAILY_INBOUND_QUOTA": str(10**9),
        "DISPATCH_RATE_LIMITS": "false",
        "DISPATCH_EVENT_HEARTBEAT_SECONDS": "15",
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    server = start_dev_server(env)
    try:
        asyncio.run(run(args, server))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
