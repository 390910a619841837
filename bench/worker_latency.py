"""The production inbound path against moto: S3 put -> `wait_for_otp` latency, and the
worker's messages per second, with moto's own cost measured alone beside them.

    python -m bench.worker_latency [--rounds 100] [--messages 1000]
    python -m bench.worker_latency --database-url postgresql://postgres@127.0.0.1:5432/bench

It starts a moto server (S3 and SQS), sets the inbound path up on it as `dispatch-server
local-aws setup` does (bucket, queue with a dead-letter queue, the bucket's notification), a
`dispatch-server dev` API and a `dispatch-server worker`, both on the same database (a
temporary SQLite file, or `--database-url`, an existing PostgreSQL database: it is
migrated). Then:

  latency     an SDK client is already blocked in `wait_for_otp`; the bench stores one mail
              in the bucket as SES would (put_object) and records the time from the put's
              answer to `wait_for_otp` returning. S3 notifies SQS, the worker's long poll
              returns it, the worker fetches the object, stores it and deletes the SQS
              message; the API's wait wakes (PostgreSQL: NOTIFY at the commit; SQLite: at
              the wait's next recheck, DISPATCH_WAIT_RECHECK_SECONDS, set to 0.1 here).
  throughput  with the worker stopped, --messages mails are put (the queue fills); a worker
              is started and timed from its first stored message to its last.
  moto alone  the calls the worker makes for one message (receive, get_object, delete), and
              a put, timed against moto with no Dispatch at all, one at a time and from 8
              threads: what moto itself costs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import free_port, percentile, start_dev_server, verification_mail
from dispatch_client import Dispatch
from dispatch_server.cli import local_aws
from dispatch_server.db import Database
from dispatch_server.db import tables as t

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto did not start")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dispatch_server", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stored_count(url: str) -> int:
    async def go() -> int:
        db = Database(url)
        try:
            query = sa.select(sa.func.count()).select_from(t.messages)
            return int(await db.run_read(lambda conn: conn.scalar(query)) or 0)
        finally:
            await db.dispose()

    return asyncio.run(go())


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.1f} ms, p90 {percentile(values, 90):.1f} ms, "
        f"p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms ({len(values)} rounds)"
    )


def moto_alone(url: str, rounds: int) -> None:
    s3, sqs = local_aws.clients(url, REGION)
    made = local_aws.set_up(s3, sqs, bucket="moto-alone", queue="moto-alone", endpoint_url=url)
    sqs.purge_queue(QueueUrl=made.queue_url)
    raw = local_aws.as_ses_stores(verification_mail("a@x.test", "1", 0), "m0", recipient=None)
    times: dict[str, list[float]] = {"put": [], "receive": [], "get": [], "delete": []}

    def one(n: int) -> None:
        started = time.perf_counter()
        s3.put_object(Bucket=made.bucket, Key=f"inbound/m{n}", Body=raw)
        put = time.perf_counter()
        messages: list[Any] = []
        while not messages:
            messages = sqs.receive_message(
                QueueUrl=made.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            ).get("Messages", [])
        received = time.perf_counter()
        s3.get_object(Bucket=made.bucket, Key=f"inbound/m{n}")["Body"].read()
        got = time.perf_counter()
        sqs.delete_message(QueueUrl=made.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        deleted = time.perf_counter()
        times["put"].append((put - started) * 1000)
        times["receive"].append((received - put) * 1000)
        times["get"].append((got - received) * 1000)
        times["delete"].append((deleted - got) * 1000)

    for n in range(rounds):
        one(n)
    print("moto alone, one at a time (ms, p50 / p99):")
    for name, values in times.items():
        print(f"  {name:8} {percentile(values, 50):6.1f} / {percentile(values, 99):6.1f}")
    total = [sum(v) for v in zip(*times.values(), strict=True)]
    print(f"  a message's S3 put + receive + get + delete: p50 {percentile(total, 50):.1f} ms")

    count = rounds * 4
    for n in range(count):
        s3.put_object(Bucket=made.bucket, Key=f"inbound/p{n}", Body=raw)

    def consume() -> tuple[int, float]:
        done, last = 0, time.perf_counter()
        while True:
            messages = sqs.receive_message(
                QueueUrl=made.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                return done, last
            for message in messages:
                s3.get_object(Bucket=made.bucket, Key="inbound/p0")["Body"].read()
                handle = message["ReceiptHandle"]
                sqs.delete_message(QueueUrl=made.queue_url, ReceiptHandle=handle)
                done, last = done + 1, time.perf_counter()

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: consume(), range(8)))
    handled = sum(done for done, _ in results)
    elapsed = max(last for _, last in results) - started
    print(
        f"  receive + get + delete from 8 threads: {handled / elapsed:.0f} msgs/s "
        f"({handled} messages)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--database-url", help="an existing PostgreSQL database (migrated here)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dispatch-bench-worker-"))
    moto, moto_url = start_moto(work / "moto.log")
    processes: list[subprocess.Popen[Any]] = []
    try:
        s3, sqs = local_aws.clients(moto_url, REGION)
        made = local_aws.set_up(s3, sqs, endpoint_url=moto_url)
        database_url = args.database_url or f"sqlite:///{work / 'dispatch.db'}"
        env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
        env.update(CREDENTIALS)
        env.update(
            DATABASE_URL=database_url,
            DISPATCH_LOG_LEVEL="WARNING",
            DISPATCH_WAIT_RECHECK_SECONDS="0.1",
            DISPATCH_SQS_QUEUE_URL=made.queue_url,
            DISPATCH_SES_INBOUND_S3_BUCKET=made.bucket,
            DISPATCH_AWS_ENDPOINT_URL=moto_url,
            DISPATCH_AWS_REGION=REGION,
        )
        if args.database_url:
            subprocess.run(
                [sys.executable, "-m", "dispatch_server", "migrate"], env=env, check=True
            )
        server = start_dev_server(
            {k: env[k] for k in ("DATABASE_URL", "DISPATCH_WAIT_RECHECK_SECONDS")}
        )
        processes.append(server.process)
        worker = start_worker(env, work / "worker.log")
        processes.append(worker)
        print(f"database {database_url.split('@')[-1]}; logs in {work}")
        latencies: list[float] = []
        with Dispatch(api_key=server.account_key, base_url=server.base_url) as d:
            inbox = d.inboxes.create()
            d.otp.latest(inbox.id)  # mints and caches the inbox key before timing starts
            time.sleep(2)  # the worker is up and polling
            for round_no in range(args.rounds):
                code = f"{300000 + round_no}"
                since = datetime.now(UTC)
                got: dict[str, Any] = {}

                def wait(since: datetime = since, got: dict[str, Any] = got) -> None:
                    got["code"] = d.otp.wait_for_otp(inbox.id, timeout=30, since=since)
                    got["at"] = time.perf_counter()

                waiter = threading.Thread(target=wait)
                waiter.start()
                time.sleep(0.02)  # the wait reaches the server and subscribes
                message_id = local_aws.ses_message_id()
                raw = local_aws.as_ses_stores(
                    verification_mail(inbox.address, code, round_no),
                    message_id,
                    recipient=inbox.address,
                )
                s3.put_object(Bucket=made.bucket, Key=f"inbound/{message_id}", Body=raw)
                put_at = time.perf_counter()
                waiter.join()
                assert got["code"] == code, (got, code)
                latencies.append((got["at"] - put_at) * 1000)
        print(f"S3 put -> wait_for_otp: {summary(latencies)}")

        worker.terminate()
        worker.wait(timeout=60)
        before = stored_count(database_url)
        for n in range(args.messages):
            message_id = local_aws.ses_message_id()
            raw = local_aws.as_ses_stores(
                verification_mail(inbox.address, str(400000 + n), n),
                message_id,
                recipient=inbox.address,
            )
            s3.put_object(Bucket=made.bucket, Key=f"inbound/{message_id}", Body=raw)
        worker = start_worker(env, work / "worker.log")
        processes.append(worker)
        while stored_count(database_url) == before:
            time.sleep(0.01)
        first = time.perf_counter()
        while stored_count(database_url) < before + args.messages:
            time.sleep(0.05)
        elapsed = time.perf_counter() - first
        print(
            f"worker (concurrency 8): {(args.messages - 1) / elapsed:.0f} msgs/s "
            f"({args.messages} messages in {elapsed:.1f} s after the first)"
        )
        moto_alone(moto_url, args.rounds)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    main()
