"""The ops views over real HTTP on both databases: GET /v1/ops/status behind its token (the
queue and dead-letter queue on a moto server run as a process, the workers' heartbeats,
ingest per door, dropped mail), GET /v1/metrics/public, and /metrics."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import httpx
import pytest

from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.domain import inbound_rejections, workers
from dispatch_server.domain.inbound_rejections import Rejection
from tests.aws import REGION, InboundAws
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import InboxClient, error_code, make_mail, smtp_send
from tests.server.worker.conftest import new_inbox, running_worker, until, worker_settings

OPS_TOKEN = "test-ops-token"
HEARTBEAT_SECONDS = 2.0


@pytest.fixture(scope="module", params=BACKENDS)
def ops_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, moto_server: str
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_OPS_TOKEN=OPS_TOKEN,
        DISPATCH_METRICS_ENABLED="true",
        DISPATCH_SQS_QUEUE_URL=f"{moto_server}/123456789012/dispatch-inbound",
        DISPATCH_AWS_ENDPOINT_URL=moto_server,
        DISPATCH_AWS_REGION=REGION,
        DISPATCH_WORKER_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
        DISPATCH_WORKER_STALE_AFTER_BEATS=3,
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        thread = _ServerThread(settings)
        try:
            yield thread.start()
        finally:
            thread.stop()
            next(urls, None)


def status(server: LiveServer, token: str | None = OPS_TOKEN) -> httpx.Response:
    headers = {"x-dispatch-ops-token": token} if token is not None else {}
    return httpx.get(f"{server.base_url}/v1/ops/status", headers=headers, timeout=30)


def write(server: LiveServer, fn: Any, *args: Any, **kwargs: Any) -> None:
    async def go() -> None:
        db = Database(server.database_url)
        try:
            await db.run_write(fn, *args, **kwargs)
        finally:
            await db.dispose()

    asyncio.run(go())


def test_the_status_needs_the_token(live_server: LiveServer, ops_server: LiveServer) -> None:
    closed = status(live_server)  # a server without DISPATCH_OPS_TOKEN
    assert closed.status_code == 503 and error_code(closed) == "ops_disabled"
    for token in (None, "", "wrong", OPS_TOKEN + "x", OPS_TOKEN[:-1]):
        refused = status(ops_server, token)
        assert refused.status_code == 401 and error_code(refused) == "unauthorized", token
    assert status(ops_server).status_code == 200


def test_the_status_shows_queues_workers_doors_and_drops(
    ops_server: LiveServer, inbound: InboundAws
) -> None:
    # The queue holds S3's test event; one message waits in the dead-letter queue.
    inbound.sqs.send_message(QueueUrl=inbound.setup.dlq_url, MessageBody="dead")
    now = utcnow()
    write(ops_server, workers.register, "w-live", "host-a", 11, now)
    write(ops_server, workers.register, "w-dead", "host-b", 12, now - timedelta(minutes=5))
    write(ops_server, workers.register, "w-gone", "host-c", 13, now)
    gone = workers.Beat(worker_id="w-gone", processed=7, failed=1, queue_lag_seconds=0.5)
    write(ops_server, workers.beat, gone, now, stopped=True)
    live = workers.Beat(worker_id="w-live", processed=3, failed=0, queue_lag_seconds=1.25)
    write(ops_server, workers.beat, live, now)
    dropped = Rejection(door="ses_sqs", reason="unknown_recipient", provider_message_id="m1")
    write(ops_server, inbound_rejections.record, dropped, now)
    client = InboxClient(ops_server, "ops-door")
    client.deliver(subject="through the webhook")
    raw = make_mail(to=client.address, subject="through SMTP")
    smtp_send(ops_server.smtp_host, ops_server.smtp_port, client.address, raw)

    body = status(ops_server).json()
    assert body["queue"] == {
        "url": inbound.setup.queue_url,
        "visible": 1,
        "in_flight": 0,
        "delayed": 0,
        "error": None,
    }
    assert body["dead_letter_queue"]["url"] == inbound.setup.dlq_url  # from the redrive policy
    assert body["dead_letter_queue"]["visible"] == 1
    # CloudWatch holds no datapoint of the queue's oldest message yet.
    assert (body["oldest_message_age_seconds"], body["oldest_message_age_at"]) == (None, None)
    assert body["queue_lag_seconds"] == 1.25
    liveness = {w["worker_id"]: w["liveness"] for w in body["workers"]}
    assert liveness == {"w-live": "live", "w-dead": "stale", "w-gone": "stopped"}
    [gone_row] = [w for w in body["workers"] if w["worker_id"] == "w-gone"]
    assert (gone_row["processed"], gone_row["failed"], gone_row["host"]) == (7, 1, "host-c")
    doors = {d["door"]: d for d in body["doors"]}
    assert set(doors) >= {"smtp", "webhook", "ses_sqs", "ses_sns", "local"}
    assert doors["webhook"]["last_hour"] >= 1 and doors["webhook"]["last_ingest_at"]
    assert doors["smtp"]["last_hour"] >= 1 and doors["smtp"]["last_ingest_at"]
    assert doors["ses_sns"] == {"door": "ses_sns", "last_ingest_at": None, "last_hour": 0}
    assert {"door": "ses_sqs", "reason": "unknown_recipient", "count": 1} in body[
        "dropped_last_hour"
    ]


def test_the_oldest_messages_age_is_the_latest_cloudwatch_datapoint(
    ops_server: LiveServer, inbound: InboundAws, moto: str
) -> None:
    """SQS publishes ApproximateAgeOfOldestMessage to CloudWatch each minute; moto does not
    publish it itself, so the datapoints are put here as SQS would put them."""
    cloudwatch = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("cloudwatch", endpoint_url=moto)
    queue_name = inbound.setup.queue_url.rpartition("/")[2]
    now = utcnow().replace(second=0, microsecond=0)

    def datapoint(queue: str, minutes_ago: int, age: float) -> None:
        cloudwatch.put_metric_data(
            Namespace="AWS/SQS",
            MetricData=[
                {
                    "MetricName": "ApproximateAgeOfOldestMessage",
                    "Dimensions": [{"Name": "QueueName", "Value": queue}],
                    "Timestamp": now - timedelta(minutes=minutes_ago),
                    "Value": age,
                    "Unit": "Seconds",
                }
            ],
        )

    datapoint(queue_name, 40, 9000.0)  # too old to tell anything now
    assert status(ops_server).json()["oldest_message_age_seconds"] is None
    datapoint(queue_name, 6, 120.0)
    datapoint(queue_name, 3, 42.0)  # the latest
    datapoint("another-queue", 1, 7.0)
    body = status(ops_server).json()
    assert body["oldest_message_age_seconds"] == 42.0
    assert body["oldest_message_age_at"] == (now - timedelta(minutes=3)).isoformat().replace(
        "+00:00", "Z"
    )


def test_sqs_that_does_not_answer_is_shown_not_a_500(ops_server: LiveServer, moto: str) -> None:
    # After moto's reset the queue does not exist.
    response = status(ops_server)
    assert response.status_code == 200, response.text
    queue = response.json()["queue"]
    assert queue["visible"] is None and queue["error"]


def test_public_metrics_count_and_are_cached(ops_server: LiveServer) -> None:
    url = f"{ops_server.base_url}/v1/metrics/public"
    first = httpx.get(url).json()
    assert set(first) == {"inboxes_created", "messages_received", "otps_extracted", "counted_at"}
    InboxClient(ops_server, "counted").deliver(text="Your code is 551177")
    assert httpx.get(url).json() == first  # the cached count, for 60 s


def test_public_metrics_count_what_was_stored(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "public-counts")
    inbox.deliver(text="Your code is 662288")
    inbox.deliver(text="Your code is 773399")
    body = httpx.get(f"{live_server.base_url}/v1/metrics/public").json()
    assert body["inboxes_created"] >= 1
    assert body["messages_received"] >= 2 and body["otps_extracted"] >= 2


def test_prometheus_metrics_are_off_unless_enabled(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.base_url}/metrics")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_prometheus_metrics_count_ingests_per_door(ops_server: LiveServer) -> None:
    InboxClient(ops_server, "prom").deliver()
    response = httpx.get(f"{ops_server.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    stored = re.search(
        r'^dispatch_ingest_messages_total\{door="webhook",outcome="stored"\} (\d+)', text, re.M
    )
    assert stored is not None and float(stored.group(1)) >= 1
    assert 'dispatch_ingest_duration_seconds_bucket{door="webhook",le="0.1"}' in text
    assert re.search(r"^dispatch_waits_open 0\.0$", text, re.M)


@pytest.mark.anyio
async def test_a_worker_serves_its_own_metrics(database_url: str, inbound: InboundAws) -> None:
    from tests.aws import free_port

    port = free_port()
    settings = worker_settings(
        database_url,
        inbound,
        DISPATCH_METRICS_ENABLED="true",
        DISPATCH_WORKER_METRICS_PORT=port,
    )
    async with running_worker(settings) as worker:
        address = await new_inbox(worker.services.db, "metered")
        inbound.put(make_mail(address), recipient=address)
        await until(lambda: worker.stats.processed == 2)
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    deleted = re.search(r'^dispatch_worker_messages_total\{result="deleted"\} (\d+)', text, re.M)
    assert deleted is not None and float(deleted.group(1)) >= 2
    ingested = r'^dispatch_ingest_messages_total\{door="ses_sqs",outcome="stored"\}'
    assert re.search(ingested, text, re.M)
    assert re.search(r"^dispatch_queue_lag_seconds \d", text, re.M)
