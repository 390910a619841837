"""SMTP ingest, Dispatch against MailDev 3, side by side on this machine.

    python -m bench.smtp_vs_maildev [--runs 3] [--connections 16] [--messages 100]

Starts both servers (MailDev from npm into bench/.cache/, in memory; `dispatch-server smtp` on
a migrated temporary SQLite file whose inboxes are the recipients, 250 only after a durable
commit; one server per `--processes` value, 1 and 2 by default), then drives each with the
same asyncio load generator, alternating, `--runs` times per mode:

  kept      `--connections` connections at once, each sending `--messages` mails in turn
  new       as many workers, each opening a new connection for every one of its
            `--new-messages` mails

Each mail is a ~4 KB verification mail (bench.common.verification_mail) to one of 16 inboxes,
sent as plain SMTP, one command at a time (no PIPELINING). Prints msg/s (wall clock from the
first connection to the last 250) and the server's CPU per message (user + system time of
its processes, from /proc). Needs node and npm on PATH. Target: Dispatch >= MailDev.

On PostgreSQL: `--dispatch-env DATABASE_URL=postgresql://.../empty_db` with one `--processes`
value (the servers would share that database and its inboxes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import attrs
import sqlalchemy as sa

from bench.common import cpu_seconds, free_port, sender_records, verification_mail
from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import workspaces
from dispatch_server.services import Services

MAILDEV_VERSION = "3.0.0"
NPM_FLAGS = ("--no-audit", "--no-fund", "--no-save", "--loglevel=error")
CACHE = Path(__file__).parent / ".cache"
DOMAIN = "bench.test"
INBOXES = 16
SENDER = "no-reply@acme.test"


# --- the servers -----------------------------------------------------------------------------


@attrs.define
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    count_stored: Callable[[], int]

    def cpu_seconds(self) -> float:
        """User + system time of the server process and its descendants so far."""
        return sum(cpu_seconds(pid) for pid in _tree(self.process.pid))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def wait_for_smtp(server: Server, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
                if sock.recv(1024).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not start:\n{server.log.read_text()}")


def maildev_script() -> Path:
    """MailDev's command, installed from npm into bench/.cache/maildev on first use."""
    prefix = CACHE / "maildev"
    package = prefix / "node_modules" / "maildev" / "package.json"
    if not package.exists() or json.loads(package.read_text())["version"] != MAILDEV_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("MailDev comes from npm: install node and npm first")
        prefix.mkdir(parents=True, exist_ok=True)
        print(f"installing maildev@{MAILDEV_VERSION} into {prefix} ...", flush=True)
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), *NPM_FLAGS, f"maildev@{MAILDEV_VERSION}"],
            check=True,
        )
    bin_entry: str = json.loads(package.read_text())["bin"]["maildev"]
    return package.parent / bin_entry


def start_maildev(work: Path) -> Server:
    port, web_port = free_port(), free_port()
    log = work / "maildev.log"
    node = shutil.which("node") or "node"
    addresses = ["--ip", "127.0.0.1", "--smtp", str(port), "--web-ip", "127.0.0.1"]
    addresses += ["--web", str(web_port)]
    # Without --mail-directory MailDev keeps its index in memory but still writes each
    # message to a file under the temporary directory (never synced): keep those in `work`.
    env = {**os.environ, "TMPDIR": str(work)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node, str(maildev_script()), *addresses],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def count_stored() -> int:
        url = f"http://127.0.0.1:{web_port}/api/email?limit=1000000"
        with urllib.request.urlopen(url, timeout=30) as reply:
            return len(json.load(reply))

    server = Server("MailDev", process, port, log, count_stored)
    wait_for_smtp(server)
    return server


def dispatch_env(work: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'dispatch.db'}",
        "DISPATCH_INBOX_DOMAIN": DOMAIN,
        "DISPATCH_DAILY_INBOUND_QUOTA": str(10**9),
        **extra,
    }


async def create_inboxes(env: dict[str, str]) -> list[str]:
    """One workspace per inbox, as agents sign up; returns the addresses."""
    async with await Services.open(Settings.from_env(env), listen=False) as services:
        return [
            (
                await services.db.run_write(
                    workspaces.signup, domain=DOMAIN, name=f"agent-{i}", local_part=f"agent{i}"
                )
            ).inbox.address
            for i in range(INBOXES)
        ]


async def count_messages(url: str) -> int:
    db = Database(url)
    try:
        stored = await db.run_read(
            lambda conn: conn.scalar(sa.select(sa.func.count()).select_from(t.messages))
        )
    finally:
        await db.dispose()
    return int(stored or 0)


def start_dispatch(
    work: Path, extra_env: dict[str, str], processes: int
) -> tuple[Server, list[str]]:
    work = work / f"dispatch-{processes}"
    work.mkdir()
    env = dispatch_env(work, extra_env)
    command = [sys.executable, "-m", "dispatch_server"]
    subprocess.run([*command, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    addresses = asyncio.run(create_inboxes(env))
    port = free_port()
    log = work / "dispatch.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "smtp", "--port", str(port)]
            + (["--processes", str(processes)] if processes != 1 else []),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def count_stored() -> int:
        return asyncio.run(count_messages(env["DATABASE_URL"]))

    name = "Dispatch" if processes == 1 else f"Dispatch×{processes}"
    server = Server(name, process, port, log, count_stored)
    wait_for_smtp(server)
    return server, addresses


# --- the load generator ----------------------------------------------------------------------


class SmtpError(Exception):
    pass


async def reply(reader: asyncio.StreamReader, expected: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line:
            raise SmtpError(f"connection closed, expected {expected.decode()}")
        if line[3:4] != b"-":
            break
    if not line.startswith(expected):
        raise SmtpError(f"expected {expected.decode()}, got {line.decode(errors='replace')!r}")


async def command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes, expected: bytes
) -> None:
    writer.write(line)
    await reply(reader, expected)


async def open_session(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reply(reader, b"220")
    await command(reader, writer, b"EHLO loadgen.bench.test\r\n", b"250")
    return reader, writer


async def send_one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, recipient: bytes, data: bytes
) -> None:
    await command(reader, writer, b"MAIL FROM:<" + SENDER.encode() + b">\r\n", b"250")
    await command(reader, writer, b"RCPT TO:<" + recipient + b">\r\n", b"250")
    await command(reader, writer, b"DATA\r\n", b"354")
    await command(reader, writer, data, b"250")


async def close_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await command(reader, writer, b"QUIT\r\n", b"221")
    writer.close()
    await writer.wait_closed()


def wire_data(raw: bytes) -> bytes:
    """The DATA payload: CRLF lines, dot-stuffed, ending with the lone dot."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = (b"." + line if line.startswith(b".") else line for line in lines)
    return b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"


Job = tuple[bytes, bytes]  # recipient, DATA payload


def make_jobs(addresses: list[str], workers: int, per_worker: int, serial: int) -> list[list[Job]]:
    return [
        [
            (
                addresses[w % len(addresses)].encode(),
                wire_data(
                    verification_mail(
                        addresses[w % len(addresses)],
                        f"{(serial + w * per_worker + i) % 900000 + 100000}",
                        serial + w * per_worker + i,
                    )
                ),
            )
            for i in range(per_worker)
        ]
        for w in range(workers)
    ]


async def kept_connection(port: int, jobs: list[Job]) -> None:
    reader, writer = await open_session(port)
    for recipient, data in jobs:
        await send_one(reader, writer, recipient, data)
    await close_session(reader, writer)


async def new_connections(port: int, jobs: list[Job]) -> None:
    for recipient, data in jobs:
        reader, writer = await open_session(port)
        await send_one(reader, writer, recipient, data)
        await close_session(reader, writer)


@attrs.frozen
class Measurement:
    rate: float  # msg/s
    cpu_ms: float  # server CPU per message
    loadgen_cpu_ms: float  # this process's CPU per message


def measure(server: Server, mode: str, jobs: list[list[Job]]) -> Measurement:
    drive = kept_connection if mode == "kept" else new_connections

    async def drive_all() -> None:
        await asyncio.gather(*(drive(server.port, chunk) for chunk in jobs))

    messages = sum(len(chunk) for chunk in jobs)
    cpu_before, own_before = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    asyncio.run(drive_all())
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    own = time.process_time() - own_before
    return Measurement(messages / elapsed, cpu / messages * 1000, own / messages * 1000)


# --- the runs --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per server and mode (3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent senders (16)")
    parser.add_argument("--messages", type=int, default=100, help="per kept connection (100)")
    parser.add_argument(
        "--new-messages", type=int, default=20, help="per worker in the new mode (20)"
    )
    parser.add_argument("--modes", default="kept,new", help="kept,new (both)")
    parser.add_argument(
        "--processes",
        default="1,2",
        help="dispatch-server smtp --processes, each value a server of its own (1,2)",
    )
    parser.add_argument("--only", choices=["dispatch", "maildev"], help="run one server only")
    parser.add_argument(
        "--sender-dns",
        action="store_true",
        help="serve the sender's SPF, DMARC and DKIM key from a local DNS server "
        "(tests.dns_server) that Dispatch asks: every check passes, as for a "
        "well-configured sender; without it the lookups fail",
    )
    parser.add_argument(
        "--dispatch-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra environment variable for dispatch-server (repeatable)",
    )
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.dispatch_env)
    modes = args.modes.split(",")
    work = Path(tempfile.mkdtemp(prefix="dispatch-vs-maildev-"))
    servers: list[Server] = []
    dns: subprocess.Popen[bytes] | None = None
    try:
        if args.sender_dns:
            dns, address = start_sender_dns()
            extra_env.setdefault("DISPATCH_DNS_SERVER", address)
        addresses = [f"agent{i}@{DOMAIN}" for i in range(INBOXES)]
        if args.only != "maildev":
            for processes in (int(n) for n in args.processes.split(",")):
                dispatch, addresses = start_dispatch(work, extra_env, processes)
                servers.append(dispatch)
        if args.only != "dispatch":
            servers.append(start_maildev(work))
        results = run_all(servers, addresses, modes, args)
        print_results(results, servers, modes, args)
        for server in servers:
            print(f"{server.name}: {server.count_stored()} messages stored")
    finally:
        for server in servers:
            server.stop()
        if dns is not None:
            dns.terminate()
            dns.wait()
        shutil.rmtree(work, ignore_errors=True)


def start_sender_dns() -> tuple[subprocess.Popen[bytes], str]:
    """The tests' DNS server, serving bench.common.sender_records(); its address."""
    port = free_port()
    records = [f"--txt={name}={value}" for name, value in sender_records().items()]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.dns_server", "--port", str(port), *records],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()  # "serving DNS on ...": it is listening
    return process, f"127.0.0.1:{port}"


def run_all(
    servers: list[Server], addresses: list[str], modes: list[str], args: argparse.Namespace
) -> dict[tuple[str, str], list[Measurement]]:
    results: dict[tuple[str, str], list[Measurement]] = {}
    serial = 0

    def jobs(mode: str) -> list[list[Job]]:
        nonlocal serial
        per_worker = args.messages if mode == "kept" else args.new_messages
        made = make_jobs(addresses, args.connections, per_worker, serial)
        serial += args.connections * per_worker
        return made

    for server in servers:  # warm up: imports, caches, the database's first pages
        measure(server, "kept", make_jobs(addresses, 4, 10, 10**8 + serial))
        serial += 40
    for mode in modes:
        for run in range(args.runs):
            # Each server goes first in every other run, so drift in the machine's load
            # does not favour one of them.
            order = servers if run % 2 == 0 else servers[::-1]
            for server in order:
                result = measure(server, mode, jobs(mode))
                results.setdefault((mode, server.name), []).append(result)
                print(
                    f"  {mode:4} run {run + 1}  {server.name:8}  {result.rate:7.1f} msg/s  "
                    f"server CPU {result.cpu_ms:.2f} ms/msg  "
                    f"(load generator {result.loadgen_cpu_ms:.2f} ms/msg)",
                    flush=True,
                )
    return results


def print_results(
    results: dict[tuple[str, str], list[Measurement]],
    servers: list[Server],
    modes: list[str],
    args: argparse.Namespace,
) -> None:
    print()
    for mode in modes:
        per = args.messages if mode == "kept" else args.new_messages
        what = "kept connections" if mode == "kept" else "a new connection per message"
        print(f"{args.connections} × {per} messages, {what}:")
        medians: dict[str, float] = {}
        for server in servers:
            runs = results[(mode, server.name)]
            rates = [m.rate for m in runs]
            cpu = [m.cpu_ms for m in runs]
            medians[server.name] = statistics.median(rates)
            print(
                f"  {server.name:8}  median {statistics.median(rates):6.1f} msg/s "
                f"({min(rates):.0f}–{max(rates):.0f}), server CPU "
                f"{min(cpu):.2f}–{max(cpu):.2f} ms/msg"
            )
        for name, median in medians.items():
            if name != "MailDev" and "MailDev" in medians:
                print(f"  ratio {name} / MailDev: {median / medians['MailDev']:.2f}")


if __name__ == "__main__":
    main()
