"""Many tenants: per-request auth cost with 10,000 workspaces of 10 inboxes, against 10.

    python -m bench.tenants --database sqlite|postgresql [--workspaces 10,10000]
        [--inboxes 10] [--requests 1000]

For each workspace count a fresh database is migrated and filled in bulk (bench.data_growth's
loader): the workspaces, their agents, 10 inboxes each, an account key per workspace and an
inbox key per inbox (stored as the server stores them: the id, and the sha256 of the secret),
and one verification mail per inbox. A real `dispatch-server serve` then answers, on one
keep-alive connection, requests each made with a key picked at random among all the tenants':
`GET /v1/auth/me` with an account key, the same with an inbox key, and the first page of the
key's inbox (`GET /v1/inboxes/{id}/messages`). The plan of the key look-up is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from bench.data_growth import (
    ACCOUNT_KEY,
    INBOX_KEY,
    RETENTION_DAYS,
    Layout,
    fixed_id,
    flagged,
    key_of,
    load_messages,
    load_tenants,
    make_target,
    plan_rows,
    run_load,
    spread,
    start_servers,
)
from dispatch_server.auth import api_keys
from dispatch_server.db import Database


def timed(requests: int, call: Callable[[], None]) -> list[float]:
    call()
    found = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        found.append((time.perf_counter() - started) * 1000)
    return found


async def key_plan(url: str, key: str) -> list[str]:
    """The plan of every statement `authenticate` runs for `key`."""
    db = Database(url)
    seen: list[tuple[str, object]] = []

    def record(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
        seen.append((statement, params))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        await db.run_read(api_keys.authenticate, key)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    lines: list[str] = []
    for statement, params in seen:
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            continue
        lines += [" ".join(statement.split())[:200] + " …"]
        lines += await db.run_read(plan_rows, statement, params)
    await db.dispose()
    return lines


async def authenticate_in_process(url: str, keys: list[str], requests: int) -> list[float]:
    """`authenticate` on the server's Database, without HTTP, a random key each time."""
    db = Database(url)
    rng = random.Random(18)
    took = []
    try:
        for _ in range(requests):
            key = rng.choice(keys)
            started = time.perf_counter()
            await db.run_read(api_keys.authenticate, key)
            took.append((time.perf_counter() - started) * 1000)
    finally:
        await db.dispose()
    return took


def run(database: str, workspaces: int, inboxes: int, requests: int) -> dict[str, object]:
    target = make_target(database, f"growth_tenants_{workspaces}")
    try:
        from dispatch_server.migrations import upgrade

        asyncio.run(upgrade(target.url))
        layout = Layout(workspaces=workspaces, inboxes_per=inboxes, share=0)
        now = datetime.now(UTC)
        started = time.perf_counter()
        asyncio.run(run_load(target, lambda c: load_tenants(c, layout, inbox_keys=True)))
        asyncio.run(
            run_load(
                target,
                lambda c: load_messages(
                    c,
                    layout,
                    0,
                    layout.inboxes - 1,
                    start=now - timedelta(days=RETENTION_DAYS - 1),
                    end=now - timedelta(minutes=10),
                ),
            )
        )
        load = time.perf_counter() - started
        plan = asyncio.run(key_plan(target.url, key_of(INBOX_KEY, layout.inboxes - 1)))
        print(f"\n#### Key look-up plan, {workspaces:,} workspaces\n\n```")
        print("\n".join(plan))
        print("```")
        keys = [key_of(INBOX_KEY, i) for i in range(layout.inboxes)]
        keys += [key_of(ACCOUNT_KEY, w) for w in range(workspaces)]
        in_process = asyncio.run(authenticate_in_process(target.url, keys, requests))
        servers = start_servers(target.url)
        rng = random.Random(17)
        try:
            with httpx.Client(base_url=servers.base_url, timeout=30) as client:

                def get(path: Callable[[int], str], key: Callable[[int], str], n: int) -> None:
                    pick = rng.randrange(n)
                    response = client.get(
                        path(pick), headers={"Authorization": f"Bearer {key(pick)}"}
                    )
                    if response.status_code != 200:
                        raise RuntimeError(f"{response.status_code} {response.text}")

                rows = {
                    "authenticate, in-process (no HTTP)": in_process,
                    "GET /v1/auth/me, account key": timed(
                        requests,
                        lambda: get(
                            lambda _: "/v1/auth/me", lambda w: key_of(ACCOUNT_KEY, w), workspaces
                        ),
                    ),
                    "GET /v1/auth/me, inbox key": timed(
                        requests,
                        lambda: get(
                            lambda _: "/v1/auth/me", lambda i: key_of(INBOX_KEY, i), layout.inboxes
                        ),
                    ),
                    "first page of the key's inbox": timed(
                        requests,
                        lambda: get(
                            lambda i: f"/v1/inboxes/{fixed_id(3, i)}/messages?limit=20",
                            lambda i: key_of(INBOX_KEY, i),
                            layout.inboxes,
                        ),
                    ),
                }
        finally:
            servers.stop()
        return {
            "workspaces": workspaces,
            "keys": workspaces + layout.inboxes,
            "load": load,
            "bytes": target.size(),
            "rows": rows,
            "flags": flagged(plan),
        }
    finally:
        target.drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workspaces", default="10,10000")
    parser.add_argument("--inboxes", type=int, default=10, help="inboxes per workspace")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    results = [
        run(args.database, int(w), args.inboxes, args.requests) for w in args.workspaces.split(",")
    ]
    print(f"\n### {args.database}: random keys across all tenants, p50 / p99 in ms\n")
    print("| | " + " | ".join(f"{r['workspaces']:,} workspaces" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    print("| keys | " + " | ".join(f"{r['keys']:,}" for r in results) + " |")
    print("| load time | " + " | ".join(f"{r['load']:.0f} s" for r in results) + " |")
    sizes = [f"{int(str(r['bytes'])) / 2**20:,.0f} MiB" for r in results]
    print("| database size | " + " | ".join(sizes) + " |")
    first = results[0]["rows"]
    assert isinstance(first, dict)
    for name in first:
        cells = [spread(r["rows"][name]) for r in results]  # type: ignore[index]
        print(f"| {name} | " + " | ".join(cells) + " |")
    flags = [", ".join(r["flags"]) or "none" for r in results]  # type: ignore[arg-type]
    print("| full scans in the key look-up | " + " | ".join(flags) + " |")


if __name__ == "__main__":
    main()
