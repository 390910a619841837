"""One worker process: checks its queue, registers its heartbeat, consumes until told to
stop (purging old mail and sending webhook deliveries meanwhile), then beats a last time as
stopped."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from wsgiref.simple_server import WSGIServer

from dispatch_server import metrics
from dispatch_server.aws import s3_client, sqs_client
from dispatch_server.config import Worker
from dispatch_server.ingest.doors.s3 import InboundBucket
from dispatch_server.services import Services
from dispatch_server.worker.consumer import Consumer, Stats
from dispatch_server.worker.heartbeat import Heartbeat
from dispatch_server.worker.queue import Queue
from dispatch_server.worker.retention import purge_now_and_then

log = logging.getLogger("dispatch_server.worker")


class WorkerSetupError(Exception):
    """The worker cannot run as configured; said in one line."""


async def run_worker(
    services: Services, stopping: asyncio.Event, stats: Stats | None = None
) -> None:
    settings = services.settings.worker
    if not settings.queue_url or not settings.bucket:
        raise WorkerSetupError(
            "the worker needs DISPATCH_SQS_QUEUE_URL and DISPATCH_SES_INBOUND_S3_BUCKET"
        )
    threads = settings.concurrency + 2
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dispatch-aws")
    try:
        queue = Queue(sqs_client(settings, pool=threads), settings.queue_url)
        bucket = InboundBucket(settings.bucket, s3_client(settings, pool=threads))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, check_queue, queue, settings)
        exposing = _expose(services) if services.settings.ops.metrics_enabled else None
        try:
            await _consume(services, queue, bucket, executor, stopping, stats or Stats())
        finally:
            if exposing is not None:
                exposing.shutdown()
                exposing.server_close()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


async def _consume(
    services: Services,
    queue: Queue,
    bucket: InboundBucket,
    executor: Executor,
    stopping: asyncio.Event,
    stats: Stats,
) -> None:
    settings = services.settings.worker
    heartbeat = Heartbeat(services.db, stats, settings.heartbeat_seconds)
    await heartbeat.register()
    log.info(
        "worker %s (pid %d on %s): %s for s3://%s, %d at once",
        heartbeat.worker_id,
        heartbeat.pid,
        heartbeat.host,
        settings.queue_url,
        settings.bucket,
        settings.concurrency,
    )
    beating = asyncio.create_task(heartbeat.run(stopping))
    purging = asyncio.create_task(
        purge_now_and_then(
            services.db,
            services.settings.storage.message_retention_days,
            settings.purge_seconds,
            stopping,
            event_retention_days=services.settings.events.retention_days,
        )
    )
    sending = asyncio.create_task(services.webhooks.run(stopping))
    try:
        await Consumer(services, queue, bucket, executor, stats).run(stopping)
    finally:
        stopping.set()
        await beating
        await purging
        await sending
        try:
            await heartbeat.beat(stopped=True)
        except Exception as exc:
            log.warning("last heartbeat failed: %s", exc)
        log.info("worker %s stopped (%d handled)", heartbeat.worker_id, stats.processed)


def _expose(services: Services) -> WSGIServer:
    host, port = services.settings.http.host, services.settings.ops.worker_metrics_port
    try:
        server, _ = metrics.serve(host, port)
    except OSError as exc:
        raise WorkerSetupError(
            f"cannot serve /metrics on {host}:{port} (DISPATCH_WORKER_METRICS_PORT): {exc.strerror}"
        ) from None
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server


def check_queue(queue: Queue, settings: Worker) -> None:
    """The queue answers and has a redrive policy: without one, a message that keeps failing
    would come back forever. A maxReceiveCount other than DISPATCH_WORKER_MAX_ATTEMPTS is
    logged: the worker would hand such messages back quickly until the queue's count."""
    try:
        redrive = queue.redrive()
    except Exception as exc:
        raise WorkerSetupError(f"cannot read the queue {queue.url}: {exc}") from None
    if redrive is None:
        raise WorkerSetupError(
            f"the queue {queue.url} has no redrive policy: give it a dead-letter queue with "
            f"maxReceiveCount {settings.max_attempts} (DISPATCH_WORKER_MAX_ATTEMPTS), so that "
            "a message that keeps failing cannot come back forever"
        )
    if redrive.max_receive_count != settings.max_attempts:
        log.warning(
            "the queue's maxReceiveCount is %d, DISPATCH_WORKER_MAX_ATTEMPTS %d: make them equal",
            redrive.max_receive_count,
            settings.max_attempts,
        )
