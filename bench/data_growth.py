"""Flat costs as stored mail grows: reads, waits, events, ingest and the retention purge.

    python -m bench.data_growth --database sqlite|postgresql --sizes 1000,100000,1000000
        [--requests 200] [--purge 100000]

At each size a fresh database is migrated and filled in bulk (SQL `INSERT ... SELECT` over a
generated series, one transaction per table; on SQLite with `synchronous=OFF` during the load
only), with the rows the ingest pipeline writes for a verification mail: the message, its
message_security row, its OTP and its link artifacts, its `message.received` event (with
workspace_event_counters set) and the daily quota rows. Layout: 100 workspaces of 10 inboxes;
the measured inbox (the first) holds a tenth of all messages, the 999 others share the rest
evenly; received_at is spread evenly over the 30-day retention window, oldest first.

Then a real `dispatch-server serve` and `dispatch-server smtp` run on that database and the
bench times, over HTTP with keep-alive, p50/p99 over --requests each: the first page of the
measured inbox's messages, a get of its oldest and of its newest message, its latest OTP, a
wait that answers at once, the event stream replayed from the workspace's first event and
from its tail (to the first event frame), and the SMTP door (one connection, one message at
a time). The SQL of each read, recorded from the same domain functions run in-process, is
printed with its plan: `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL, `EXPLAIN QUERY PLAN` on
SQLite; a sequential scan of a big table is flagged.

--purge N then adds N messages older than the retention cutoff to the largest size and runs
the worker's purge (worker.retention: bounded batches) while the SMTP door takes mail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa

from bench.common import (
    PG_ADMIN_URL,
    create_database,
    drop_database,
    free_port,
    otp_mail,
    percentile,
)
from dispatch_server.auth import api_keys
from dispatch_server.db import Database
from dispatch_server.domain import messages, waits
from dispatch_server.events import log as event_log
from dispatch_server.mail import verdicts as v
from dispatch_server.mail.parse import parse_message
from dispatch_server.migrations import upgrade
from dispatch_server.worker import retention as worker_retention

T = TypeVar("T")

DOMAIN = "bench.test"
RETENTION_DAYS = 30
BIG_TABLES = ("messages", "message_security", "artifacts", "events", "api_keys", "inboxes")
SECRET = "benchsecret-"  # a key's secret is this and its number: the bench knows every key


def fixed_id(kind: int, n: int) -> str:
    """The bench's ids: UUID-shaped like new_id()'s, kind and serial readable."""
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


# The SQL side of fixed_id, and the other per-dialect pieces of the generated rows.
def _sql_id(dialect: str, kind: int, n: str) -> str:
    if dialect == "postgresql":
        return f"(lpad(to_hex({kind}), 8, '0') || '-0000-4000-8000-' || lpad(to_hex({n}), 12, '0'))"
    return f"printf('%08x-0000-4000-8000-%012x', {kind}, {n})"


def _sql_time(dialect: str, micros: str) -> str:
    """A UtcDateTime value from microseconds since the epoch, as the column stores it."""
    if dialect == "postgresql":
        return f"to_timestamp(({micros})::float8 / 1000000)"
    return (
        f"(strftime('%Y-%m-%d %H:%M:%S', ({micros}) / 1000000, 'unixepoch')"
        f" || printf('.%06d', ({micros}) % 1000000))"
    )


def _series(dialect: str, first: int, last: int) -> str:
    """A FROM clause of the integers first..last, as `s(n)`."""
    if dialect == "postgresql":
        return f"generate_series(CAST({first} AS BIGINT), {last}) AS s(n)"
    return (
        f"(WITH RECURSIVE r(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM r"
        f" WHERE n < {last}) SELECT n FROM r) AS s"
    )


def _text(dialect: str, value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Layout:
    workspaces: int = 100
    inboxes_per: int = 10
    share: int = 10  # the measured inbox holds one message in `share`

    @property
    def inboxes(self) -> int:
        return self.workspaces * self.inboxes_per

    def inbox_of(self, n: str) -> str:
        """The inbox number of message n, in SQL."""
        if self.inboxes == 1:
            return "0"
        if self.share <= 0:
            return f"(({n}) % {self.inboxes})"
        return (
            f"(CASE WHEN ({n}) % {self.share} = 0 THEN 0 ELSE 1 + ({n}) % {self.inboxes - 1} END)"
        )


def address(inbox: int) -> str:
    return f"box{inbox}@{DOMAIN}"


def key_of(kind: int, n: int) -> str:
    return f"{fixed_id(kind, n)}.{SECRET}{kind}-{n}"


ACCOUNT_KEY, INBOX_KEY = 5, 6  # fixed_id kinds of the keys


def load_tenants(conn: sa.Connection, layout: Layout, *, inbox_keys: bool) -> None:
    """Workspaces, agents, inboxes and keys (an account key per workspace; an inbox key per
    inbox if asked), with executemany in one transaction."""
    from dispatch_server.db import tables as t

    now = datetime.now(UTC) - timedelta(days=RETENTION_DAYS)
    chunk = 5000

    def many(table: sa.Table, rows: Iterator[dict[str, Any]]) -> None:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == chunk:
                conn.execute(table.insert(), batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)

    w_range = range(layout.workspaces)
    many(
        t.workspaces,
        (
            {
                "id": fixed_id(1, w),
                "name": f"ws{w}",
                "status": "active",
                "plan": "multi_inbox",
                "policy": {},
                "created_at": now,
            }
            for w in w_range
        ),
    )
    many(
        t.agents,
        (
            {
                "id": fixed_id(2, w),
                "workspace_id": fixed_id(1, w),
                "name": f"ws{w}",
                "created_at": now,
            }
            for w in w_range
        ),
    )
    many(
        t.inboxes,
        (
            {
                "id": fixed_id(3, i),
                "workspace_id": fixed_id(1, i // layout.inboxes_per),
                "agent_id": fixed_id(2, i // layout.inboxes_per),
                "address": address(i),
                "display_name": None,
                "created_at": now,
            }
            for i in range(layout.inboxes)
        ),
    )
    common = {"label": "bench", "created_at": now, "user_id": None}
    many(
        t.api_keys,
        (
            {
                "id": fixed_id(ACCOUNT_KEY, w),
                "workspace_id": fixed_id(1, w),
                "agent_id": fixed_id(2, w),
                "key_kind": "account",
                "inbox_id": None,
                "secret_hash": api_keys.hash_secret(key_of(ACCOUNT_KEY, w).partition(".")[2]),
                **common,
            }
            for w in w_range
        ),
    )
    if inbox_keys:
        many(
            t.api_keys,
            (
                {
                    "id": fixed_id(INBOX_KEY, i),
                    "workspace_id": fixed_id(1, i // layout.inboxes_per),
                    "agent_id": fixed_id(2, i // layout.inboxes_per),
                    "key_kind": "inbox",
                    "inbox_id": fixed_id(3, i),
                    "secret_hash": api_keys.hash_secret(key_of(INBOX_KEY, i).partition(".")[2]),
                    **common,
                }
                for i in range(layout.inboxes)
            ),
        )


@dataclass
class Template:
    """The stored form of one verification mail, with placeholders the SQL fills in."""

    raw: str
    text: str
    html: str
    security_details: str
    link: str

    @classmethod
    def make(cls) -> Template:
        raw = otp_mail("TOADDR", "999999", 0).decode()
        # The per-message parts: the code, the token, the order number and the Message-ID.
        raw = raw.replace("999999", "CODE00").replace("tok00000000", "TOKEN00000")
        raw = re.sub(r"(?m)^Message-ID: <[^<>]*>", "Message-ID: <MSGID>", raw, count=1)
        parsed = parse_message(raw.encode(), max_parts=100, max_depth=10)
        decision = v.classify(v.Verdicts(), spam_flagged=False, unparseable=None)
        details = v.details(v.Verdicts(), decision, spam_flagged=False)
        link = next(link.url for link in parsed.extraction.links if link.is_primary)
        return cls(raw, parsed.text or "", parsed.html or "", json.dumps(details), link)


def _token(dialect: str, n: str) -> str:
    if dialect == "postgresql":
        return f"lpad(CAST({n} AS TEXT), 10, '0')"
    return f"printf('%010d', {n})"


def _fill(dialect: str, template: str, n: str, to: str) -> str:
    code = f"CAST((100000 + ({n}) % 900000) AS TEXT)"
    token = _token(dialect, n)
    mid = f"('<' || CAST({n} AS TEXT) || '.bench@acme.test>')"
    sql = _text(dialect, template)
    replaced = (("CODE00", code), ("TOKEN00000", token), ("tok00000000", token), ("<MSGID>", mid))
    for placeholder, value in replaced:
        sql = f"replace({sql}, '{placeholder}', {value})"
    return f"replace({sql}, 'TOADDR', {to})"


def load_messages(
    conn: sa.Connection,
    layout: Layout,
    first: int,
    last: int,
    *,
    start: datetime,
    end: datetime,
    seq_base: bool = False,
) -> None:
    """Messages first..last with their security rows, artifacts, events and quota rows;
    received_at from `start` (the first) to `end` (the last), evenly."""
    d = conn.dialect.name
    tpl = Template.make()
    count = max(1, last - first)
    start_us = int(start.timestamp() * 1_000_000)
    step = int((end - start).total_seconds() * 1_000_000) // count
    received = _sql_time(d, f"{start_us} + (n - {first}) * {step}")
    inbox = layout.inbox_of("n")
    to = f"('box' || CAST({inbox} AS TEXT) || '@{DOMAIN}')"
    mid = "('<' || CAST(n AS TEXT) || '.bench@acme.test>')"
    blob = (
        f"convert_to({_fill(d, tpl.raw, 'n', to)}, 'UTF8')"
        if d == "postgresql"
        else f"CAST({_fill(d, tpl.raw, 'n', to)} AS BLOB)"
    )
    json_to = f"json_build_array({to})" if d == "postgresql" else f"json_array({to})"
    true = "true" if d == "postgresql" else "1"
    conn.exec_driver_sql(
        f"""INSERT INTO messages (id, inbox_id, workspace_id, provider_message_id,
        message_id_header, mail_from, from_header, from_address, to_addresses, cc_addresses,
        subject, text_body, html_body, attachments, raw_mime, size_bytes, received_at, door)
        SELECT {_sql_id(d, 10, "n")}, {_sql_id(d, 3, inbox)},
        {_sql_id(d, 1, f"({inbox}) / {layout.inboxes_per}")},
        'mid:' || CAST(n AS TEXT), {mid}, 'no-reply@acme.test', 'Acme <no-reply@acme.test>',
        'no-reply@acme.test', {json_to}, '[]', 'Your Acme verification code',
        {_fill(d, tpl.text, "n", to)}, {_fill(d, tpl.html, "n", to)}, '[]', {blob},
        {len(tpl.raw)}, {received}, 'smtp'
        FROM {_series(d, first, last)}"""
    )
    ids = f"{_sql_id(d, 10, 'n')}"
    conn.exec_driver_sql(
        f"""INSERT INTO message_security (message_id, folder, details)
        SELECT {ids}, 'inbox', {_text(d, tpl.security_details)} FROM {_series(d, first, last)}"""
    )
    code = "CAST((100000 + n % 900000) AS TEXT)"
    link_value = _fill(d, tpl.link, "n", "''")
    for kind, art_id, value in (("otp", 11, code), ("link", 12, link_value)):
        conn.exec_driver_sql(
            f"""INSERT INTO artifacts (id, message_id, inbox_id, kind, value, is_primary,
            position, folder, received_at)
            SELECT {_sql_id(d, art_id, "n")}, {ids}, {_sql_id(d, 3, inbox)}, '{kind}', {value},
            {true}, 0, 'inbox', {received} FROM {_series(d, first, last)}"""
        )
    payload = (
        "json_build_object('inbox_id', m.inbox_id, 'message_id', m.id, 'folder', 'inbox')"
        if d == "postgresql"
        else "json_object('inbox_id', m.inbox_id, 'message_id', m.id, 'folder', 'inbox')"
    )
    base = (
        "COALESCE((SELECT c.last_seq FROM workspace_event_counters c"
        " WHERE c.workspace_id = m.workspace_id), 0)"
    )
    first_id = _sql_id(d, 10, str(first))
    conn.exec_driver_sql(
        f"""INSERT INTO events (id, workspace_id, seq, inbox_id, type, payload, created_at)
        SELECT 'e' || substr(m.id, 2), m.workspace_id,
        {base} + row_number() OVER (PARTITION BY m.workspace_id ORDER BY m.received_at, m.id),
        m.inbox_id, 'message.received', {payload}, m.received_at
        FROM messages m WHERE m.id >= {first_id} AND substr(m.id, 1, 8) = '0000000a'"""
    )
    conn.exec_driver_sql(
        """INSERT INTO workspace_event_counters (workspace_id, last_seq, purged_through)
        SELECT workspace_id, max(seq), 0 FROM events GROUP BY workspace_id
        ON CONFLICT (workspace_id) DO UPDATE SET last_seq = excluded.last_seq"""
    )
    day = "(m.received_at AT TIME ZONE 'UTC')::date" if d == "postgresql" else "date(m.received_at)"
    conn.exec_driver_sql(
        f"""INSERT INTO workspace_quotas (workspace_id, day, inbound_count, sent_count,
        unique_recipient_count)
        SELECT m.workspace_id, {day}, count(*), 0, 0 FROM messages m
        WHERE m.id >= {first_id} AND substr(m.id, 1, 8) = '0000000a'
        GROUP BY m.workspace_id, {day}
        ON CONFLICT (workspace_id, day) DO UPDATE
        SET inbound_count = workspace_quotas.inbound_count + excluded.inbound_count"""
    )
    del seq_base


# --- databases ------------------------------------------------------------------------------


@dataclass
class Target:
    """A throwaway database: its URL, how to drop it, and its size on disk."""

    url: str
    drop: Callable[[], None]
    size: Callable[[], int]
    dialect: str


def make_target(database: str, name: str) -> Target:
    if database == "postgresql":
        url = asyncio.run(create_database(PG_ADMIN_URL, name))

        def pg_size() -> int:
            out = subprocess.run(
                [
                    "psql",
                    "-At",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    name,
                    "-c",
                    f"SELECT pg_database_size('{name}')",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            return int(out.stdout.strip())

        return Target(
            url,
            lambda: asyncio.run(drop_database(PG_ADMIN_URL, name)),
            pg_size,
            "postgresql",
        )
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    path = directory / "bench.db"

    def sqlite_size() -> int:
        return sum(p.stat().st_size for p in directory.iterdir())

    return Target(f"sqlite:///{path}", lambda: shutil.rmtree(directory), sqlite_size, "sqlite")


@contextmanager
def sync_conn(target: Target) -> Iterator[sa.Connection]:
    """A plain connection for the load. SQLite: synchronous=OFF for the load only (the
    server's own connections set FULL)."""
    if target.dialect == "sqlite":
        engine = sa.create_engine(target.url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
            yield conn
            conn.commit()
        engine.dispose()
        return
    raise AssertionError("PostgreSQL loads through run_load")


async def run_load(target: Target, fn: Callable[[sa.Connection], None]) -> None:
    """Run `fn` in one transaction on the target."""
    if target.dialect == "sqlite":
        with sync_conn(target) as conn:
            fn(conn)
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(target.url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.run_sync(fn)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE")
    await engine.dispose()


# --- the servers ----------------------------------------------------------------------------


@dataclass
class Servers:
    api: subprocess.Popen[str]
    smtp: subprocess.Popen[str]
    base_url: str
    smtp_port: int
    log_dir: Path

    def stop(self) -> None:
        for process in (self.api, self.smtp):
            process.terminate()
        for process in (self.api, self.smtp):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.log_dir, ignore_errors=True)


def server_env(url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DISPATCH_")}
    env.update(
        {
            "DATABASE_URL": url,
            "DISPATCH_INBOX_DOMAIN": DOMAIN,
            "DISPATCH_LOG_LEVEL": "WARNING",
            "DISPATCH_DAILY_INBOUND_QUOTA": str(10**9),
            "DISPATCH_SMTP_MAX_COMMANDS": str(10**7),
            "DISPATCH_VERIFY_INBOUND_AUTH": "false",
            "DISPATCH_MESSAGE_RETENTION_DAYS": str(RETENTION_DAYS),
            "DISPATCH_RATE_LIMITS": "false",
        }
    )
    return env


def start_servers(url: str) -> Servers:
    log_dir = Path(tempfile.mkdtemp(prefix="dispatch-growth-"))
    port, smtp_port = free_port(), free_port()
    env = server_env(url)
    started = []
    for command, p in (("serve", port), ("smtp", smtp_port)):
        with (log_dir / f"{command}.log").open("w") as out:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dispatch_server", command, "--port", str(p)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=env,
                )
            )
    servers = Servers(started[0], started[1], f"http://127.0.0.1:{port}", smtp_port, log_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{servers.base_url}/health", timeout=1)
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=2):
                return servers
        except (httpx.HTTPError, OSError):
            if any(p.poll() is not None for p in started):
                break
            time.sleep(0.2)
    servers.stop()
    logs = "".join(p.read_text() for p in log_dir.iterdir())
    raise RuntimeError(f"servers did not start:\n{logs}")


# --- timing ---------------------------------------------------------------------------------


@dataclass
class Timings:
    rows: dict[str, list[float]] = field(default_factory=dict)

    def time(self, name: str, requests: int, call: Callable[[], None]) -> None:
        call()  # warm: the first call's plan and pages
        found = []
        for _ in range(requests):
            started = time.perf_counter()
            call()
            found.append((time.perf_counter() - started) * 1000)
        self.rows[name] = found


def http_reads(base_url: str, inbox: dict[str, Any], requests: int) -> Timings:
    """The reads, the inbox's with its inbox key, the event stream with the account key."""
    timings = Timings()
    account = {"Authorization": f"Bearer {key_of(ACCOUNT_KEY, 0)}"}
    inbox_key = {"Authorization": f"Bearer {key_of(INBOX_KEY, 0)}"}
    with httpx.Client(base_url=base_url, headers=inbox_key, timeout=30) as client:

        def ok(path: str, **params: Any) -> Callable[[], None]:
            def call() -> None:
                response = client.get(path, params=params)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text}")

            return call

        box = f"/v1/inboxes/{inbox['id']}"
        timings.time("list first page (20)", requests, ok(f"{box}/messages", limit=20))
        timings.time("get oldest message", requests, ok(f"{box}/messages/{inbox['oldest']}"))
        timings.time("get newest message", requests, ok(f"{box}/messages/{inbox['newest']}"))
        timings.time("latest OTP", requests, ok(f"{box}/otp"))
        timings.time(
            "artifacts, kind=otp, first", requests, ok(f"{box}/artifacts", kind="otp", limit=1)
        )
        since = inbox["newest_at"] - timedelta(seconds=1)
        timings.time(
            "wait, answered at once",
            requests,
            ok(
                f"{box}/wait", kind="otp", since=since.isoformat().replace("+00:00", "Z"), timeout=5
            ),
        )

        def stream(after: int) -> Callable[[], None]:
            def call() -> None:
                with client.stream(
                    "GET", "/v1/events", params={"after": after}, headers=account
                ) as response:
                    response.raise_for_status()
                    for line in response.iter_lines():
                        if line.startswith("data:"):
                            return
                raise AssertionError("stream ended without an event")

            return call

        timings.time("events from the first (after=0)", requests, stream(0))
        timings.time("events from the tail", requests, stream(inbox["last_seq"] - 1))
    return timings


def smtp_ingest(port: int, to: str, count: int, serial: int) -> list[float]:
    mails = [otp_mail(to, f"{100000 + i % 900000}", serial + i) for i in range(count)]
    found = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for raw in mails:
            started = time.perf_counter()
            client.sendmail("no-reply@acme.test", [to], raw)
            found.append((time.perf_counter() - started) * 1000)
    return found


# --- EXPLAIN --------------------------------------------------------------------------------


@dataclass
class Recorder:
    statements: list[tuple[str, Any]] = field(default_factory=list)
    on: bool = False

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.on:
            self.statements.append((statement, params))


def plan_rows(conn: sa.Connection, statement: str, params: Any) -> list[str]:
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        return [row[0] for row in rows]
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
    return [row[3] for row in rows]


_SEQ = re.compile(r"Seq Scan on (\w+)|^SCAN (\w+)\b")


def flagged(plan: list[str]) -> list[str]:
    """The big tables the plan reads whole."""
    found = []
    for line in plan:
        match = _SEQ.search(line.strip())
        if match:
            table = match.group(1) or match.group(2)
            if table in BIG_TABLES:
                found.append(table)
    return found


IN_PROCESS_ROUNDS = 50


async def explain(
    url: str, inbox: dict[str, Any], in_process: dict[str, float]
) -> list[tuple[str, str, list[str]]]:
    """(read, SQL, plan) of every statement each read runs, recorded from the domain
    functions the routes call; `in_process` gets each read's median time run in-process."""
    db = Database(url)
    recorder = Recorder()
    sa.event.listen(sa.Engine, "before_cursor_execute", recorder)
    cutoff = messages.retention_cutoff(RETENTION_DAYS)
    since = inbox["newest_at"] - timedelta(seconds=1)
    wait = waits.WaitFilter(
        kind="otp",
        folder="inbox",
        after=None,
        since=since,
        from_contains=None,
        subject_contains=None,
    )
    reads: list[tuple[str, Callable[[sa.Connection], Any]]] = [
        ("authenticate", lambda c: api_keys.authenticate(c, key_of(ACCOUNT_KEY, 0))),
        (
            "list first page",
            lambda c: messages.list_messages(
                c, inbox["id"], folder="inbox", limit=20, cursor=None, cutoff=cutoff
            ),
        ),
        (
            "get oldest message",
            lambda c: messages.get_message(c, inbox["id"], inbox["oldest"], cutoff=cutoff),
        ),
        ("latest OTP", lambda c: messages.latest_otp(c, inbox["id"], cutoff=cutoff)),
        (
            "artifacts kind=otp",
            lambda c: messages.list_artifacts(
                c, inbox["id"], kind="otp", limit=1, cursor=None, cutoff=cutoff
            ),
        ),
        ("wait (since)", lambda c: waits.find_match(c, inbox["id"], wait, cutoff=cutoff)),
        ("events after=0", lambda c: event_log.read_after(c, inbox["workspace_id"], after=0)),
        (
            "events tail",
            lambda c: event_log.read_after(c, inbox["workspace_id"], after=inbox["last_seq"] - 1),
        ),
    ]
    found: list[tuple[str, str, list[str]]] = []
    try:
        for name, read in reads:
            recorder.statements.clear()
            recorder.on = True
            await db.run_read(read)
            recorder.on = False
            for statement, params in list(recorder.statements):
                if (
                    statement.lstrip()
                    .upper()
                    .startswith(
                        ("BEGIN", "COMMIT", "ROLLBACK", "SET", "SHOW", "SAVEPOINT", "RELEASE")
                    )
                ):
                    continue
                plan = await db.run_read(plan_rows, statement, params)
                found.append((name, statement, plan))
        for name, read in reads:  # in-process, without HTTP: the database's part
            took = []
            for _ in range(IN_PROCESS_ROUNDS):
                started = time.perf_counter()
                await db.run_read(read)
                took.append((time.perf_counter() - started) * 1000)
            in_process[name] = percentile(took, 50)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", recorder)
        await db.dispose()
    return found


def print_plans(plans: list[tuple[str, str, list[str]]], size: int) -> None:
    print(f"\n#### Plans at {size:,} messages\n")
    for name, statement, plan in plans:
        bad = flagged(plan)
        mark = f" — **full scan of {', '.join(bad)}**" if bad else ""
        print(f"**{name}**{mark}\n")
        print("```sql")
        print(re.sub(r"\s+", " ", statement).strip())
        print("```\n```")
        print("\n".join(plan))
        print("```\n")


# --- the run --------------------------------------------------------------------------------


def measured_inbox(url: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        db = Database(url)

        def find(conn: sa.Connection) -> dict[str, Any]:
            from dispatch_server.db import tables as t

            m = t.messages.c
            inbox_id = fixed_id(3, 0)
            cutoff = messages.retention_cutoff(RETENTION_DAYS)
            ordered = sa.select(m.id, m.received_at).where(
                m.inbox_id == inbox_id, m.received_at >= cutoff
            )
            oldest = conn.execute(ordered.order_by(m.received_at, m.id).limit(1)).one()
            newest = conn.execute(
                ordered.order_by(m.received_at.desc(), m.id.desc()).limit(1)
            ).one()
            return {
                "id": inbox_id,
                "workspace_id": fixed_id(1, 0),
                "address": address(0),
                "oldest": oldest.id,
                "newest": newest.id,
                "newest_at": newest.received_at,
                "last_seq": event_log.latest_seq(conn, fixed_id(1, 0)),
            }

        try:
            return await db.run_read(find)
        finally:
            await db.dispose()

    return asyncio.run(read())


@dataclass
class SizeResult:
    size: int
    load_seconds: float
    bytes: int
    timings: Timings
    ingest: list[float]
    flags: list[str]
    in_process: dict[str, float]
    executed: dict[str, float]  # PostgreSQL: EXPLAIN ANALYZE's execution times, summed


def run_size(database: str, size: int, requests: int, ingest_count: int, purge: int) -> SizeResult:
    target = make_target(database, f"growth_{size}")
    try:
        asyncio.run(upgrade(target.url))
        layout = Layout()
        now = datetime.now(UTC)
        started = time.perf_counter()
        asyncio.run(run_load(target, lambda c: load_tenants(c, layout, inbox_keys=True)))
        asyncio.run(
            run_load(
                target,
                lambda c: load_messages(
                    c,
                    layout,
                    1,
                    size,
                    start=now - timedelta(days=RETENTION_DAYS - 0.5),
                    end=now - timedelta(minutes=10),
                ),
            )
        )
        load_seconds = time.perf_counter() - started
        print(
            f"loaded {size:,} messages in {load_seconds:.1f} s, {target.size() / 2**20:,.0f} MiB",
            flush=True,
        )
        inbox = measured_inbox(target.url)
        in_process: dict[str, float] = {}
        plans = asyncio.run(explain(target.url, inbox, in_process))
        print_plans(plans, size)
        executed: dict[str, float] = {}
        for name, _, plan in plans:
            for line in plan:
                if line.startswith("Execution Time:"):
                    executed[name] = executed.get(name, 0.0) + float(line.split()[2])
        flags = sorted({f"{name}: {table}" for name, _, plan in plans for table in flagged(plan)})
        servers = start_servers(target.url)
        try:
            timings = http_reads(servers.base_url, inbox, requests)
            ingest = smtp_ingest(servers.smtp_port, inbox["address"], ingest_count, size + 10)
            if purge:
                purge_run(target, servers, layout, purge, ingest_count, size)
        finally:
            servers.stop()
        return SizeResult(
            size, load_seconds, target.size(), timings, ingest, flags, in_process, executed
        )
    finally:
        target.drop()


# --- the purge ------------------------------------------------------------------------------


class TimedDatabase(Database):
    """A Database that notes how long each write transaction took, in ms."""

    def __init__(self, url: str, took: list[float]) -> None:
        super().__init__(url)
        self.took = took

    async def run_write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return await super().run_write(fn, *args, **kwargs)
        finally:
            self.took.append((time.perf_counter() - started) * 1000)


def purge_run(
    target: Target, servers: Servers, layout: Layout, count: int, ingest_count: int, size: int
) -> None:
    """`count` messages past the cutoff, purged by the worker's purge (bounded batches) in a
    thread of the bench while the SMTP door takes mail one message at a time."""
    now = datetime.now(UTC)
    first = size + 1_000_000
    asyncio.run(
        run_load(
            target,
            lambda c: load_messages(
                c,
                layout,
                first,
                first + count - 1,
                start=now - timedelta(days=RETENTION_DAYS + 10),
                end=now - timedelta(days=RETENTION_DAYS + 1),
            ),
        )
    )
    baseline = smtp_ingest(servers.smtp_port, address(0), ingest_count, 5_000_000)
    batches: list[float] = []
    done = threading.Event()

    async def purge() -> None:
        db = TimedDatabase(target.url, batches)
        try:
            await worker_retention.purge(db, messages.retention_cutoff(RETENTION_DAYS))
        finally:
            await db.dispose()
            done.set()

    thread = threading.Thread(target=lambda: asyncio.run(purge()))
    started = time.perf_counter()
    thread.start()
    during: list[float] = []
    serial = 6_000_000
    while not done.is_set():
        during += smtp_ingest(servers.smtp_port, address(0), 20, serial)
        serial += 20
    thread.join()
    elapsed = time.perf_counter() - started
    print(f"\n#### Retention purge of {count:,} expired messages beside {size:,} live ones\n")
    print("| | value |\n|---|---|")
    print(f"| purge, whole | {elapsed:.1f} s, {len(batches)} transactions |")
    print(f"| purge transaction p50 / p99 / max | {spread(batches, 0)} / {max(batches):.0f} ms |")
    print(f"| SMTP ingest without purge, p50 / p99 | {spread(baseline)} ms |")
    print(f"| SMTP ingest during purge, p50 / p99 ({len(during)} msgs) | {spread(during)} ms |")


def spread(values: list[float], digits: int = 1) -> str:
    """p50 / p99."""
    return f"{percentile(values, 50):.{digits}f} / {percentile(values, 99):.{digits}f}"


def print_table(database: str, results: list[SizeResult]) -> None:
    print(f"\n### {database}: p50 / p99 in ms\n")
    print("| | " + " | ".join(f"{r.size:,}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    print("| load time | " + " | ".join(f"{r.load_seconds:.0f} s" for r in results) + " |")
    print("| database size | " + " | ".join(f"{r.bytes / 2**20:,.0f} MiB" for r in results) + " |")
    for name in results[0].timings.rows:
        cells = [spread(r.timings.rows[name]) for r in results]
        print(f"| {name} | " + " | ".join(cells) + " |")
    cells = [spread(r.ingest) for r in results]
    print("| SMTP ingest, per message | " + " | ".join(cells) + " |")
    rates = [f"{len(r.ingest) / (sum(r.ingest) / 1000):.0f} msgs/s" for r in results]
    print("| SMTP ingest, one connection | " + " | ".join(rates) + " |")
    flags = [", ".join(r.flags) or "none" for r in results]
    print("| full scans of big tables | " + " | ".join(flags) + " |")
    print(f"\n### {database}: the database's part, median in ms\n")
    print("| read | " + " | ".join(f"{r.size:,}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for name in results[0].in_process:
        cells = [f"{r.in_process[name]:.2f}" for r in results]
        if results[0].executed:
            cells = [f"{r.in_process[name]:.2f} ({r.executed.get(name, 0):.2f})" for r in results]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if results[0].executed:
        print(
            "\nIn-process: the domain function on the server's Database, without HTTP; in "
            "brackets: EXPLAIN ANALYZE's execution time of its statements, summed."
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=300, help="messages through the SMTP door")
    parser.add_argument(
        "--purge", type=int, default=0, help="expired messages to purge at the largest size"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        purge = args.purge if size == sizes[-1] else 0
        results.append(run_size(args.database, size, args.requests, args.ingest, purge))
        print_table(args.database, results)


if __name__ == "__main__":
    main()
