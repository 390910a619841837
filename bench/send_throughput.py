"""Sends per second through `POST /v1/send` and the `local` provider, and how soon a send to
the inbox itself wakes its `wait_for_message`, against a `dispatch-server dev` subprocess.

    python -m bench.send_throughput [--sends 2000] [--concurrency 16] [--rounds 100]
    python -m bench.send_throughput --database-url postgresql://postgres@127.0.0.1:5432/bench

Every send runs the whole path: validate and compose, a read of suppressions and quotas,
one write transaction that checks suppressions again, takes the daily send and
distinct-recipient quotas and stores the message, the hand-over (a second transaction
claims it), the provider call, and a third transaction records the outcome. Measured:

  here       sends to another inbox of the server: the provider call is a full ingest
             (parse, extract, store, wake), so each send is four commits
  elsewhere  sends to another domain: recorded as sent, nothing ingested (three commits)
  refused    sends past the daily send quota: refused by a read, no write (429)
  latency    an inbox blocked in wait_for_message(subject=..., folder="memory") sends
             itself that subject (a memory write): time from the POST to the wait
             returning, and from the POST's 201 to it
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import percentile, start_dev_server
from dispatch_client import Dispatch

BODY = (
    "Hi,\n\nThanks for signing up. Your verification code is {code}.\n\n"
    "It expires in 10 minutes. If you did not ask for it, ignore this mail.\n"
)


async def _run_sends(
    base_url: str, key: str, bodies: list[dict[str, Any]], concurrency: int
) -> tuple[float, dict[int, int]]:
    """Send every body with `concurrency` requests in flight; (seconds, count by status)."""
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post("/v1/send", json=body)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, statuses


def _rate(label: str, seconds: float, statuses: dict[int, int], expected: int) -> None:
    count = statuses.get(expected, 0)
    print(
        f"{label:>10}: {count / seconds:7.1f} sends/s ({count} answered {expected} in "
        f"{seconds:.2f} s; statuses {dict(sorted(statuses.items()))})"
    )


def _latency(server_url: str, inbox_key: str, inbox_id: str, address: str, rounds: int) -> None:
    from_post: list[float] = []
    after_201: list[float] = []
    with (
        Dispatch(api_key=inbox_key, base_url=server_url) as d,
        httpx.Client(
            base_url=server_url, headers={"Authorization": f"Bearer {inbox_key}"}, timeout=30
        ) as http,
    ):
        for round_no in range(rounds):
            subject = f"note {round_no}"
            got: dict[str, float] = {}
            since = datetime.now(UTC)

            def wait(
                subject: str = subject, since: datetime = since, got: dict[str, float] = got
            ) -> None:
                # A send to the inbox itself alone is a memory write: it arrives in `memory`.
                d.messages.wait_for_message(
                    inbox_id, timeout=10, since=since, subject=subject, folder="memory"
                )
                got["at"] = time.perf_counter()

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.02)  # let the wait reach the server
            posted = time.perf_counter()
            response = http.post(
                "/v1/send", json={"to": [address], "subject": subject, "text": "remember"}
            )
            answered = time.perf_counter()
            assert response.status_code == 201, response.text
            waiter.join()
            from_post.append((got["at"] - posted) * 1000)
            after_201.append((got["at"] - answered) * 1000)
    for name, values in (("from POST", from_post), ("after 201", after_201)):
        print(
            f"   latency: wait_for_message {name}: p50 {percentile(values, 50):.2f} ms, "
            f"p99 {percentile(values, 99):.2f} ms ({len(values)} rounds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=100, help="latency rounds")
    parser.add_argument("--database-url", help="a PostgreSQL database instead of SQLite")
    args = parser.parse_args()
    env = {
        "DISPATCH_DAILY_INBOUND_QUOTA": str(10**9),
        "DISPATCH_DAILY_SEND_QUOTA": str(2 * args.sends + args.rounds),
        "DISPATCH_DAILY_RECIPIENT_QUOTA": str(10**6),
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    server = start_dev_server(env)
    try:
        with Dispatch(api_key=server.account_key, base_url=server.base_url) as d:
            sender, receiver = d.inboxes.create(), d.inboxes.create()
            sender_key = d.inboxes.keys.create(sender.id).key
        here = [
            {"to": [receiver.address], "subject": f"Code {i}", "text": BODY.format(code=100000 + i)}
            for i in range(args.sends)
        ]
        elsewhere = [
            {"to": [f"user{i}@example.com"], "subject": "Hi", "text": BODY.format(code=i)}
            for i in range(args.sends)
        ]
        seconds, statuses = asyncio.run(
            _run_sends(server.base_url, sender_key, here, args.concurrency)
        )
        _rate("here", seconds, statuses, 201)
        seconds, statuses = asyncio.run(
            _run_sends(server.base_url, sender_key, elsewhere, args.concurrency)
        )
        _rate("elsewhere", seconds, statuses, 201)
        _latency(server.base_url, sender_key, sender.id, sender.address, args.rounds)
        refused = here[: args.sends // 2]
        seconds, statuses = asyncio.run(
            _run_sends(server.base_url, sender_key, refused, args.concurrency)
        )
        _rate("refused", seconds, statuses, 429)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
