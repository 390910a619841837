"""What an idle SMTP connection costs the server in memory, and what happens at the cap.

    python -m bench.smtp_idle --connections 1000,5000

Against one `dispatch-server dev` subprocess (SQLite in a temporary directory), whose
connection caps (DISPATCH_SMTP_MAX_CONNECTIONS and ..._PER_CLIENT, every connection comes
from 127.0.0.1) are raised to the largest count asked for, and whose idle timeout is an
hour. The bench opens the connections in steps up to each count; each reads the greeting,
sends EHLO, reads the answer and then stays idle. At each step it reads the server's VmRSS
(after `--settle` seconds) and reports
  per connection = (VmRSS with the connections open - VmRSS before any) / connections.
Then it opens one connection more than the cap and reports what it was answered and
whether it was closed, and checks that an idle connection still answers NOOP.

Where the memory goes (tracemalloc in the server, 1,000 connections, December 2026): 11.2 KiB
of Python objects a connection, of the 12.4 KiB of RSS. aiosmtpd's session 5.7 KiB (its
instance dict, and its tables of bound `smtp_*` and `handle_*` methods, 2.6 KiB, built for
each connection), asyncio 3.7 KiB (transport, socket, stream writer, the session's task
and its suspended coroutines, timer handles), the door's own 1.3 KiB (its line reader and
the session deadline). No single part dominates; the buffers are the kernel's, not in RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.common import DevServer, start_dev_server
from bench.wait_herd import raise_open_files, rss_bytes

CONNECT_AT_ONCE = 100  # below the listen backlog, so no connection waits for a SYN retry


class Idle:
    """One connection past EHLO, held open."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer


async def reply(reader: asyncio.StreamReader) -> bytes:
    """One whole reply (its last line), or b"" when the server closed."""
    while True:
        line = await reader.readline()
        if not line or line[3:4] != b"-":
            return line


async def open_idle(port: int) -> Idle:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    greeting = await reply(reader)
    if not greeting.startswith(b"220"):
        raise RuntimeError(f"greeting {greeting!r}")
    writer.write(b"EHLO idle.bench\r\n")
    answer = await reply(reader)
    if not answer.startswith(b"250"):
        raise RuntimeError(f"EHLO answered {answer!r}")
    return Idle(reader, writer)


async def run(args: argparse.Namespace, server: DevServer, counts: list[int]) -> None:
    await asyncio.sleep(args.settle)
    before = rss_bytes(server.process.pid)
    print(f"server VmRSS before: {before / 2**20:.1f} MiB")
    print("| idle connections | opened in | VmRSS | growth | per connection |")
    print("|---:|---:|---:|---:|---:|")
    held: list[Idle] = []
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one() -> Idle:
        async with gate:
            return await open_idle(server.smtp_port)

    for count in counts:
        began = time.perf_counter()
        held += await asyncio.gather(*(one() for _ in range(count - len(held))))
        opened = time.perf_counter() - began
        await asyncio.sleep(args.settle)
        rss = rss_bytes(server.process.pid)
        print(
            f"| {count:,} | {opened:.1f} s | {rss / 2**20:.1f} MiB | "
            f"{(rss - before) / 2**20:.1f} MiB | {(rss - before) / count / 1024:.1f} KiB |",
            flush=True,
        )

    # One past the cap: answered instead of greeted, then closed.
    began = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.smtp_port)
    answer = await asyncio.wait_for(reply(reader), 10)
    closed = await asyncio.wait_for(reader.read(), 10) == b""
    print(
        f"connection {len(held) + 1:,} (cap {max(counts):,}): {answer.decode().strip()!r} "
        f"in {(time.perf_counter() - began) * 1000:.1f} ms, "
        f"{'then closed' if closed else 'NOT closed'}"
    )
    writer.close()
    held[0].writer.write(b"NOOP\r\n")
    noop = await asyncio.wait_for(reply(held[0].reader), 10)
    print(f"an idle connection, meanwhile: NOOP -> {noop.decode().strip()!r}")
    for idle in held:
        idle.writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--connections", default="1000,5000", help="counts to measure at, ascending (1000,5000)"
    )
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each reading")
    args = parser.parse_args()
    try:
        counts = sorted({int(part) for part in args.connections.split(",")})
    except ValueError:
        parser.error(f"--connections: expected counts like 1000,5000, got {args.connections!r}")
    if not counts or counts[0] < 1 or counts[-1] > 100_000:
        parser.error("--connections: counts from 1 to 100000")
    cap = counts[-1]
    raise_open_files(cap + 1024)  # the server subprocess inherits the limit too
    server = start_dev_server(
        {
            "DISPATCH_SMTP_MAX_CONNECTIONS": str(cap),
            "DISPATCH_SMTP_MAX_CONNECTIONS_PER_CLIENT": str(cap),
            "DISPATCH_SMTP_IDLE_TIMEOUT_SECONDS": "3600",
        }
    )
    try:
        asyncio.run(run(args, server, counts))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
