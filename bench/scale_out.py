"""Scale out on PostgreSQL: P API processes, P SMTP processes and a worker against one database.

    python -m bench.scale_out                        # P = 1, 2, 4
    python -m bench.scale_out --processes 1,2 --messages 2000 --rounds 50
    python -m bench.scale_out --admin-url postgresql://postgres@127.0.0.1:5432/postgres

For each P the bench creates a fresh database (dropped afterwards), migrates it, makes
`--workspaces` workspaces of one inbox each (as agents sign up), and starts P `dispatch-server
serve` processes and P `dispatch-server smtp` processes, each on its own port, and one
`dispatch-server worker` on moto (polling SQS, sending webhooks, purging). The waiter's API
process never ingests: every answer below crossed processes through LISTEN/NOTIFY.

- *idle*: `--rounds` rounds, one at a time. Round r holds a `wait` for an OTP on API process
  r % P and has an event stream of the inbox's workspace open on API process (r + 1) % P,
  then sends one mail through SMTP process r % P; it times the wait's answer and the
  stream's `message.received` frame from the SMTP 250.
- *ingest*: `--messages` mails over 4 connections per SMTP process, each to a workspace's
  inbox picked at random: messages per second, and the CPU per message of the API, SMTP,
  worker and PostgreSQL processes (read from /proc) and of the load generator. The same rounds as
  *idle* run beside it, one at a time, on other workspaces: latency under load.
- *one inbox*: the same mails all into one inbox (whose ingests take its row lock in turn,
  so that a reader resuming after a position never misses one).
- *waited on*: every 10 ms during ingest, what each active PostgreSQL backend of the database
  is waiting for (`pg_stat_activity`): CPU, a lock, the WAL, the client...

Every accepted mail is counted in the database afterwards: nothing lost, nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import attrs
import httpx

from bench.common import (
    PG_ADMIN_URL,
    cpu_seconds,
    create_database,
    drop_database,
    free_port,
    otp_mail,
    percentile,
)
from bench.smtp_vs_maildev import close_session, open_session, send_one, wire_data
from bench.sse_streams import Stream
from bench.wait_herd import Waiter, raise_open_files
from bench.worker_latency import CREDENTIALS, REGION, start_moto
from dispatch_server.cli import local_aws
from dispatch_server.db import Database
from dispatch_server.domain import workspaces

DOMAIN = "bench.test"
SENDER = "no-reply@acme.test"
CONNECTIONS_PER_SMTP = 4


@attrs.frozen
class Tenant:
    inbox_id: str
    address: str
    inbox_key: str
    account_key: str


@attrs.define
class Deployment:
    api_urls: list[str]
    smtp_ports: list[int]
    pids: dict[str, list[int]]  # role -> processes
    processes: list[subprocess.Popen[bytes]]
    database_url: str

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the deployment ----------------------------------------------------------------------------


async def sign_up(database_url: str, count: int) -> list[Tenant]:
    db = Database(database_url)
    try:
        made = []
        for n in range(count):
            signup = await db.run_write(
                workspaces.signup, domain=DOMAIN, name=f"agent-{n}", local_part=f"agent{n}"
            )
            made.append(
                Tenant(signup.inbox.id, signup.inbox.address, signup.inbox_key, signup.account_key)
            )
        return made
    finally:
        await db.dispose()


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def wait_for_greeting(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"220"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"SMTP on {port} did not greet:\n{log.read_text()[-3000:]}")


def start_deployment(count: int, env: dict[str, str], work: Path, with_worker: bool) -> Deployment:
    command = [sys.executable, "-m", "dispatch_server"]
    deployment = Deployment([], [], collections.defaultdict(list), [], env["DATABASE_URL"])

    def start(role: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = work / f"{role}-{len(deployment.pids[role])}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deployment.processes.append(process)
        deployment.pids[role].append(process.pid)
        return process

    try:
        for n in range(count):
            port = free_port()
            process = start("api", ["serve", "--port", str(port)])
            url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{url}/health", process, work / f"api-{n}.log")
            deployment.api_urls.append(url)
        for n in range(count):
            port = free_port()
            process = start("smtp", ["smtp", "--port", str(port)])
            wait_for_greeting(port, process, work / f"smtp-{n}.log")
            deployment.smtp_ports.append(port)
        if with_worker:
            process = start("worker", ["worker"])
            wait_for_heartbeat(env["DATABASE_URL"], process, work / "worker-0.log")
    except BaseException:
        deployment.stop()
        raise
    return deployment


def wait_for_heartbeat(database_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async def beats() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM dispatch_worker_heartbeats"))
        finally:
            await conn.close()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if asyncio.run(beats()):
            time.sleep(1)  # past its first poll
            return
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not beat:\n{log.read_text()[-3000:]}")


async def backend_pids(admin_url: str, database: str) -> set[int]:
    """The PostgreSQL backends serving `database` now (not the server's shared processes,
    nor other databases')."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return {int(row["pid"]) for row in rows}


def cpu_by_process(deployment: Deployment, backends: set[int]) -> dict[tuple[str, int], float]:
    spent = {
        (role, pid): cpu_seconds(pid) for role, pids in deployment.pids.items() for pid in pids
    }
    spent.update({("postgres", pid): cpu_seconds(pid) for pid in backends})
    loadgen = os.times()
    spent[("load generator", 0)] = loadgen.user + loadgen.system
    return spent


def cpu_between(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    by_role: dict[str, float] = collections.defaultdict(float)
    for (role, pid), seconds in after.items():
        by_role[role] += seconds - before.get((role, pid), 0.0)  # a new backend: all of it
    return by_role


# --- rounds: one wait and one stream per mail ---------------------------------------------------


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FirstFrame(Stream):
    """An event stream that also resolves `arrived` at its first message.received frame."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.arrivals and not self.arrived.done():
            self.arrived.set_result(None)


async def open_stream(url: str, tenant: Tenant) -> FirstFrame:
    host, port = url.removeprefix("http://").split(":")
    request = (
        "GET /v1/events?types=message.received HTTP/1.1\r\n"
        f"host: bench\r\nauthorization: Bearer {tenant.account_key}\r\n"
        "accept: text/event-stream\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    _, stream = await loop.create_connection(lambda: FirstFrame(request), host, int(port))
    await asyncio.wait_for(stream.opened, 30)
    return stream


async def open_wait(url: str, tenant: Tenant) -> Waiter:
    host, port = url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    since = rfc3339_now()
    _, waiter = await loop.create_connection(
        lambda: Waiter(tenant.inbox_id, tenant.inbox_key, since), host, int(port)
    )
    return waiter


@attrs.define
class Rounds:
    wait_ms: list[float] = attrs.Factory(list)
    stream_ms: list[float] = attrs.Factory(list)
    smtp_ms: list[float] = attrs.Factory(list)  # DATA sent -> 250

    def add(self, other: Rounds) -> None:
        self.wait_ms += other.wait_ms
        self.stream_ms += other.stream_ms
        self.smtp_ms += other.smtp_ms


async def rounds(
    deployment: Deployment, tenants: Iterator[Tenant], stop: asyncio.Event, limit: int
) -> Rounds:
    """One mail at a time, each to the next tenant, waited for on one API process and
    streamed on another, until `limit` rounds or `stop`."""
    found = Rounds()
    count = len(deployment.api_urls)
    sessions = [await open_session(port) for port in deployment.smtp_ports]
    try:
        for round_no in range(limit):
            if stop.is_set():
                break
            tenant = next(tenants)
            stream = await open_stream(deployment.api_urls[(round_no + 1) % count], tenant)
            waiter = await open_wait(deployment.api_urls[round_no % count], tenant)
            await asyncio.sleep(0.02)  # the wait reaches its server and subscribes
            code = f"{500000 + round_no}"
            data = wire_data(otp_mail(tenant.address, code, 900000 + round_no))
            reader, writer = sessions[round_no % len(sessions)]
            sent_at = time.perf_counter()
            await send_one(reader, writer, tenant.address.encode(), data)
            replied_at = time.perf_counter()
            await asyncio.wait_for(waiter.answered, 30)
            await asyncio.wait_for(stream.arrived, 30)
            otp = waiter.body().get("otp")
            if not isinstance(otp, dict) or otp.get("code") != code:
                raise RuntimeError(f"round {round_no}: the wait answered {otp!r}")
            found.smtp_ms.append((replied_at - sent_at) * 1000)
            found.wait_ms.append((waiter.answered_at - replied_at) * 1000)
            found.stream_ms.append((stream.arrivals[0] - replied_at) * 1000)
            for transport in (waiter.transport, stream.transport):
                if transport is not None:
                    transport.close()
    finally:
        for reader, writer in sessions:
            with contextlib.suppress(Exception):
                await close_session(reader, writer)
    return found


# --- ingest flat out -------------------------------------------------------------------------


async def ingest(deployment: Deployment, tenants: list[Tenant], messages: int) -> float:
    """Send `messages` mails over CONNECTIONS_PER_SMTP connections per SMTP process, each to
    one of `tenants` picked at random; return the seconds it took."""
    ports = [port for port in deployment.smtp_ports for _ in range(CONNECTIONS_PER_SMTP)]
    jobs: list[list[tuple[bytes, bytes]]] = [[] for _ in ports]
    recipients = random.Random(messages)  # not in turn: connections would move in step
    for n in range(messages):
        tenant = recipients.choice(tenants)
        raw = otp_mail(tenant.address, f"{(n % 900000) + 100000}", n)
        jobs[n % len(ports)].append((tenant.address.encode(), wire_data(raw)))

    async def connection(port: int, mine: list[tuple[bytes, bytes]]) -> None:
        for start in range(0, len(mine), 200):  # within the door's command cap
            reader, writer = await open_session(port)
            for recipient, data in mine[start : start + 200]:
                await send_one(reader, writer, recipient, data)
            await close_session(reader, writer)

    started = time.perf_counter()
    await asyncio.gather(*(connection(port, mine) for port, mine in zip(ports, jobs, strict=True)))
    return time.perf_counter() - started


def statement_of(query: str) -> str:
    """`UPDATE workspace_event_counters`, `SELECT … FOR NO KEY UPDATE` and the like."""
    words = query.split()
    verb = words[0].upper() if words else "?"
    if verb == "SELECT":
        return "SELECT … FOR NO KEY UPDATE" if "FOR NO KEY UPDATE" in query else "SELECT"
    table = next((w for w in words[1:4] if w.upper() not in {"INTO", "FROM"}), "?")
    return f"{verb} {table}"


async def sample_waits(
    admin_url: str, database: str, stop: asyncio.Event
) -> collections.Counter[str]:
    """What the database's active backends wait for, every 10 ms until `stop`."""
    conn = await asyncpg.connect(admin_url)
    seen: collections.Counter[str] = collections.Counter()
    try:
        while not stop.is_set():
            for row in await conn.fetch(
                "SELECT wait_event_type, wait_event, query FROM pg_stat_activity"
                " WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()",
                database,
            ):
                kind = row["wait_event_type"]
                name = "CPU" if kind is None else f"{kind}:{row['wait_event']}"
                if kind == "Lock":  # which statement waits says which lock it is
                    name += f" ({statement_of(row['query'])})"
                seen[name] += 1
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return seen


async def stored(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM messages"))
    finally:
        await conn.close()


@attrs.frozen
class Phase:
    rate: float
    cpu_ms: dict[str, float]  # per message, by role
    waited: collections.Counter[str]
    probes: Rounds


async def flat_out(
    deployment: Deployment,
    admin_url: str,
    database: str,
    load_tenants: list[Tenant],
    probe_tenants: Iterator[Tenant],
    messages: int,
) -> Phase:
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_waits(admin_url, database, stop))
    probing = asyncio.create_task(rounds(deployment, probe_tenants, stop, 10**6))
    backends = await backend_pids(admin_url, database)
    before = cpu_by_process(deployment, backends)
    seconds = await ingest(deployment, load_tenants, messages)
    after = cpu_by_process(deployment, backends | await backend_pids(admin_url, database))
    stop.set()
    probes = await probing
    waited = await sampler
    cpu = {role: spent * 1000 / messages for role, spent in cpu_between(before, after).items()}
    return Phase(messages / seconds, cpu, waited, probes)


# --- one process count -------------------------------------------------------------------------


@attrs.frozen
class Result:
    processes: int
    idle: Rounds
    spread: Phase
    one_inbox: Phase
    stored: int
    expected: int


def measure(args: argparse.Namespace, count: int, work: Path) -> Result:
    """Set up a fresh database and deployment of `count` processes each, measure, tear down."""
    name = f"dispatch_scale_{count}_{os.getpid()}"
    database_url = asyncio.run(create_database(args.admin_url, name))
    moto: subprocess.Popen[bytes] | None = None
    deployment: Deployment | None = None
    try:
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        env.update(
            DATABASE_URL=database_url,
            DISPATCH_INBOX_DOMAIN=DOMAIN,
            DISPATCH_DAILY_INBOUND_QUOTA=str(10**9),
            DISPATCH_SMTP_MAX_COMMANDS=str(10**7),
            DISPATCH_VERIFY_INBOUND_AUTH="false",  # no sender DNS here; issue 6 measures it
            DISPATCH_LOG_LEVEL="WARNING",
        )
        if args.worker:
            moto, moto_url = start_moto(work / "moto.log")
            s3, sqs = local_aws.clients(moto_url, REGION)
            made = local_aws.set_up(s3, sqs, endpoint_url=moto_url)
            env.update(CREDENTIALS)
            env.update(
                DISPATCH_SQS_QUEUE_URL=made.queue_url,
                DISPATCH_SES_INBOUND_S3_BUCKET=made.bucket,
                DISPATCH_AWS_ENDPOINT_URL=moto_url,
                DISPATCH_AWS_REGION=REGION,
            )
        migrate = [sys.executable, "-m", "dispatch_server", "migrate"]
        subprocess.run(migrate, env=env, check=True, stdout=subprocess.DEVNULL)
        tenants = asyncio.run(sign_up(database_url, args.workspaces + 2 * args.rounds))
        deployment = start_deployment(count, env, work, args.worker)
        progress(f"P={count}: {len(deployment.processes)} processes up")
        return asyncio.run(phases(args, deployment, name, tenants))
    finally:
        if deployment is not None:
            deployment.stop()
        if moto is not None:
            moto.terminate()
            moto.wait()
        asyncio.run(drop_database(args.admin_url, name))


async def phases(
    args: argparse.Namespace, deployment: Deployment, database: str, tenants: list[Tenant]
) -> Result:
    count = len(deployment.api_urls)
    load = tenants[: args.workspaces]
    probes = itertools.cycle(tenants[args.workspaces :])  # each round's wait and stream are new
    progress(f"P={count}: idle rounds")
    idle = await rounds(deployment, probes, asyncio.Event(), args.rounds)
    progress(f"P={count}: ingest over {args.workspaces} inboxes")
    spread = await flat_out(deployment, args.admin_url, database, load, probes, args.messages)
    progress(f"P={count}: ingest into one inbox")
    one = await flat_out(deployment, args.admin_url, database, load[:1], probes, args.messages // 2)
    expected = (
        len(idle.wait_ms)
        + args.messages
        + len(spread.probes.wait_ms)
        + args.messages // 2
        + len(one.probes.wait_ms)
    )
    return Result(count, idle, spread, one, await stored(deployment.database_url), expected)


# --- the report -------------------------------------------------------------------------------


def spread_of(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f}"


def waited_on(counter: collections.Counter[str]) -> str:
    total = sum(counter.values()) or 1
    return ", ".join(f"{kind} {n * 100 / total:.0f} %" for kind, n in counter.most_common(4))


def report(results: list[Result]) -> None:
    print("\n### Latency from the SMTP 250, waiter and stream on other processes (ms, p50 / p99)\n")
    print("| P | idle: wait | idle: stream | under ingest: wait | stream | 250 after DATA |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.processes} | {spread_of(r.idle.wait_ms)} | {spread_of(r.idle.stream_ms)} "
            f"| {spread_of(r.spread.probes.wait_ms)} | {spread_of(r.spread.probes.stream_ms)} "
            f"| {spread_of(r.spread.probes.smtp_ms)} |"
        )
    print("\n### Ingest, msgs/s and CPU ms per message\n")
    print("| P | inboxes | msgs/s | API | SMTP | worker | PostgreSQL | load gen | stored |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for label, phase in (("many", r.spread), ("one", r.one_inbox)):
            cpu = phase.cpu_ms
            print(
                f"| {r.processes} | {label} | {phase.rate:.0f} | {cpu.get('api', 0):.2f} "
                f"| {cpu.get('smtp', 0):.2f} | {cpu.get('worker', 0):.2f} "
                f"| {cpu['postgres']:.2f} | {cpu['load generator']:.2f} "
                f"| {r.stored}/{r.expected} |"
            )
    print("\n### What PostgreSQL's active backends waited on during ingest\n")
    print("| P | inboxes | samples |")
    print("|---|---|---|")
    for r in results:
        for label, phase in (("many", r.spread), ("one", r.one_inbox)):
            print(f"| {r.processes} | {label} | {waited_on(phase.waited)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", default="1,2,4", help="API and SMTP processes, each")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument(
        "--admin-url",
        default=PG_ADMIN_URL,
        help="a PostgreSQL database from which the bench may create and drop databases",
    )
    parser.add_argument("--no-worker", dest="worker", action="store_false")
    args = parser.parse_args()
    raise_open_files(4096)
    counts = [int(part) for part in args.processes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="dispatch-bench-scale-"))
    progress(f"logs in {work}")
    results = []
    for count in counts:
        (work / f"p{count}").mkdir()
        results.append(measure(args, count, work / f"p{count}"))
    report(results)
    lost = [r.processes for r in results if r.stored != r.expected]
    if lost:
        raise SystemExit(f"stored counts differ from what got a 250 at P={lost}")


if __name__ == "__main__":
    main()
