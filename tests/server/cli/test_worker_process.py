"""`dispatch-server worker` as a process against moto run as a server: a SIGTERM lets the
messages in hand finish and deletes nothing it did not store, a `kill -9` mid-flow loses
nothing, and every message ends up stored exactly once; bad setups are one line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dispatch_server.cli import local_aws
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import workspaces
from tests.aws import REGION, InboundAws
from tests.helpers import make_mail
from tests.server.cli.test_commands import command, run, server_env
from tests.server.worker.conftest import DOMAIN

MESSAGES = 150


def worker_env(database_url: str, inbound: InboundAws, **extra: str) -> dict[str, str]:
    env = dict(
        DATABASE_URL=database_url,
        DISPATCH_INBOX_DOMAIN=DOMAIN,
        DISPATCH_SQS_QUEUE_URL=inbound.setup.queue_url,
        DISPATCH_SES_INBOUND_S3_BUCKET=inbound.bucket,
        DISPATCH_AWS_ENDPOINT_URL=inbound.url,
        DISPATCH_AWS_REGION=REGION,
        DISPATCH_WORKER_WAIT_SECONDS="1",
        DISPATCH_WORKER_MAX_ATTEMPTS="3",
        DISPATCH_WORKER_RETRY_SECONDS="0",
        DISPATCH_WORKER_VISIBILITY_SECONDS="2",
        DISPATCH_WORKER_HEARTBEAT_SECONDS="0.5",
        DISPATCH_WORKER_CONCURRENCY="4",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return server_env(**(env | extra))


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command("worker"), env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def read(url: str, query: sa.Select[Any]) -> list[Any]:
    async def go() -> list[Any]:
        db = Database(url)
        try:
            return await db.run_read(lambda conn: list(conn.execute(query)))
        finally:
            await db.dispose()

    return asyncio.run(go())


def stored_ids(url: str) -> list[str]:
    return [row[0] for row in read(url, sa.select(t.messages.c.provider_message_id))]


def sign_up(url: str) -> str:
    async def go() -> str:
        db = Database(url)
        try:
            result = await db.run_write(
                workspaces.signup, domain=DOMAIN, name=None, local_part="bot"
            )
        finally:
            await db.dispose()
        return result.inbox.address

    return asyncio.run(go())


def wait_for(check: Any, *, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def put_many(inbound: InboundAws, address: str) -> set[str]:
    inbound.drain()  # S3's test event
    return {
        inbound.put(make_mail(address, subject=f"n{n}", text="x" * 2000), recipient=address)
        for n in range(MESSAGES)
    }


def in_flight(inbound: InboundAws) -> int:
    attributes = inbound.sqs.get_queue_attributes(
        QueueUrl=inbound.setup.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_sigterm_finishes_what_is_in_hand_and_deletes_nothing_it_did_not_store(
    database_url: str, inbound: InboundAws, processes: list[WorkerProcess], tmp_path: Path
) -> None:
    address = sign_up(database_url)
    ids = put_many(inbound, address)
    env = worker_env(database_url, inbound, DISPATCH_WORKER_VISIBILITY_SECONDS="60")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    processes.append(worker)
    wait_for(lambda: len(stored_ids(database_url)) >= 10, what="the first messages")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=30) == 0, worker.output()
    stored = stored_ids(database_url)
    assert len(stored) == len(set(stored)) < MESSAGES
    # Everything in hand was stored and deleted; a message received while stopping was
    # handed back at once: none is left hidden for its 60 s visibility timeout.
    assert in_flight(inbound) == 0
    assert inbound.count() + len(stored) == MESSAGES
    [beat] = read(database_url, sa.select(t.worker_heartbeats))
    assert beat.stopped_at is not None and beat.processed == len(stored)
    assert "finishing the messages in hand" in worker.output()
    assert "Traceback" not in worker.output()

    processes.append(WorkerProcess(env, tmp_path / "worker.log"))
    wait_for(lambda: inbound.count() == 0, what="the queue to empty")
    stored = stored_ids(database_url)
    assert sorted(stored) == sorted(ids)


def test_kill_9_mid_flow_loses_nothing_and_stores_each_message_once(
    database_url: str, inbound: InboundAws, processes: list[WorkerProcess], tmp_path: Path
) -> None:
    address = sign_up(database_url)
    ids = put_many(inbound, address)
    env = worker_env(database_url, inbound)
    first = WorkerProcess(env, tmp_path / "first.log")
    processes.append(first)
    wait_for(lambda: len(stored_ids(database_url)) >= 10, what="the first messages")
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    at_kill = len(stored_ids(database_url))
    assert at_kill < MESSAGES  # killed mid-flow, with messages received and not deleted
    [beat] = read(database_url, sa.select(t.worker_heartbeats))
    assert beat.stopped_at is None  # it never got to say it stopped: ops shows it stale

    second = WorkerProcess(env, tmp_path / "second.log")
    processes.append(second)
    # Messages the dead worker held come back after their 2 s visibility timeout.
    wait_for(lambda: inbound.count() == 0, what="the queue to empty")
    assert second.stop() == 0, second.output()
    stored = stored_ids(database_url)
    assert sorted(stored) == sorted(ids)  # each exactly once
    assert inbound.dead_letters() == 0


def test_a_worker_without_its_queue_or_bucket_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run(command("worker"), server_env(DATABASE_URL=url), tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "DISPATCH_SQS_QUEUE_URL and DISPATCH_SES_INBOUND_S3_BUCKET" in result.stderr
    bad = server_env(
        DATABASE_URL=url, DISPATCH_WORKER_CONCURRENCY="0", DISPATCH_WORKER_WAIT_SECONDS="60"
    )
    result = run(command("worker"), bad, tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "DISPATCH_WORKER_CONCURRENCY" in result.stderr
    assert "DISPATCH_WORKER_WAIT_SECONDS" in result.stderr


def test_a_queue_that_cannot_be_read_is_one_line(
    tmp_path: Path, inbound: InboundAws, database_url: str
) -> None:
    missing = inbound.setup.queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    env = worker_env(database_url, inbound, DISPATCH_SQS_QUEUE_URL=missing)
    result = subprocess.run(
        command("worker"), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert f"cannot read the queue {missing}" in result.stderr.strip().splitlines()[-1]


def test_local_aws_sets_the_path_up_and_delivers_as_ses_would(moto: str, tmp_path: Path) -> None:
    env = server_env(
        DISPATCH_AWS_ENDPOINT_URL=moto,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    for _ in range(2):  # safe to run again
        setup = run(command("local-aws", "setup"), env, tmp_path)
        assert setup.returncode == 0, setup.stderr
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in setup.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exported["DISPATCH_SES_INBOUND_S3_BUCKET"] == "dispatch-inbound"
    assert exported["DISPATCH_SQS_QUEUE_URL"].endswith("/dispatch-inbound")
    mail = tmp_path / "mail.eml"
    mail.write_bytes(make_mail("bot@dispatch.localhost"))
    delivered = run(
        command("local-aws", "deliver", "--to", "bot@dispatch.localhost", str(mail)), env, tmp_path
    )
    assert delivered.returncode == 0, delivered.stderr
    key = delivered.stdout.strip().removeprefix("stored s3://dispatch-inbound/")
    s3, sqs = local_aws.clients(moto, REGION)
    stored = s3.get_object(Bucket="dispatch-inbound", Key=key)["Body"].read()
    assert stored.startswith(b"Return-Path: <sender@example.com>\r\nReceived: ")
    assert (
        f"with SMTP id {key.rpartition('/')[2]}\r\n for bot@dispatch.localhost;".encode() in stored
    )
    attributes = sqs.get_queue_attributes(
        QueueUrl=exported["DISPATCH_SQS_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) >= 2  # S3's test events, the mail
    # Without an endpoint it never reaches for AWS itself.
    refused = run(command("local-aws", "setup"), server_env(), tmp_path)
    assert refused.returncode == 1 and "--endpoint-url" in refused.stderr
    assert refused.stderr.count("\n") == 1
