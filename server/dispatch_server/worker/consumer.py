"""The SQS consumer: receives S3 event notifications, stores the mail each names, and deletes a
notification only once what it names is committed (or recorded as dropped).

At least once, never lost: a notification whose handling fails (S3 or the database do not
answer, the notification cannot be read, a bug) is not deleted. It comes back after a
backoff (ChangeMessageVisibility: DISPATCH_WORKER_RETRY_SECONDS, doubling at each attempt),
and once it has been received DISPATCH_WORKER_MAX_ATTEMPTS times it is made visible at once,
for the queue's redrive policy to move it to the dead-letter queue at its next receive. A
worker that dies mid-message deletes nothing: the message comes back after the visibility
timeout, and storing it again is a no-op (the SES message id is the provider id).

Mail that can never be stored (no inbox, too large, unreadable, another bucket) is not
retried: it is recorded and dropped (see dispatch_server.ingest.doors.ses).

Up to DISPATCH_WORKER_CONCURRENCY messages are handled at once; boto3 is blocking, so its
calls run in the worker's thread pool. When told to stop, the consumer receives nothing more,
hands back what a receive under way still brings (visible again at once), and lets the
messages in hand finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

import attrs

from dispatch_server import metrics
from dispatch_server.config.settings import MAX_SQS_VISIBILITY_SECONDS
from dispatch_server.core.clock import utcnow
from dispatch_server.domain import domains
from dispatch_server.ingest.doors import ses
from dispatch_server.ingest.doors.s3 import (
    InboundBucket,
    ObjectCreated,
    ObjectUnavailable,
    UnreadableNotification,
    location,
    parse_notification,
)
from dispatch_server.ingest.pipeline import Door
from dispatch_server.services import Services
from dispatch_server.worker.queue import MAX_BATCH, Queue, QueueMessage

log = logging.getLogger("dispatch_server.worker")

T = TypeVar("T")
DOOR: Door = "ses_sqs"
# After a failed receive (SQS unreachable): wait this long, doubling up to the maximum.
RECEIVE_RETRY_SECONDS = 1.0
RECEIVE_RETRY_MAX_SECONDS = 30.0
# How long the verified custom domains the header fallback of the envelope takes are kept.
CUSTOM_DOMAINS_SECONDS = 60.0
# Failures that say what went wrong in their message; others are logged with a traceback.
_EXPECTED = (ObjectUnavailable, UnreadableNotification)


@attrs.define
class Stats:
    """What this worker did, for its heartbeat and its metrics."""

    processed: int = 0  # SQS messages handled and deleted
    failed: int = 0  # handlings that failed, left for a retry
    queue_lag_seconds: float | None = None  # age of the last message received, at receipt


def backoff_seconds(attempt: int, first: float) -> int:
    """How long a message that failed its `attempt`-th handling stays hidden: `first`,
    doubled at each further attempt, at most SQS's 12 hours."""
    return int(min(first * 2 ** max(attempt - 1, 0), MAX_SQS_VISIBILITY_SECONDS))


class Consumer:
    def __init__(
        self,
        services: Services,
        queue: Queue,
        bucket: InboundBucket,
        executor: Executor,
        stats: Stats | None = None,
    ) -> None:
        self.services = services
        self.settings = services.settings.worker
        self.queue = queue
        self.bucket = bucket
        self.executor = executor
        self.stats = stats or Stats()
        self._domains: frozenset[str] = frozenset()
        self._domains_until = 0.0

    async def _custom_domains(self) -> frozenset[str]:
        """The verified custom domains, read again at most every CUSTOM_DOMAINS_SECONDS."""
        now = time.monotonic()
        if self._domains_until <= now:
            self._domains = await self.services.db.run_read(domains.verified_names)
            self._domains_until = now + CUSTOM_DOMAINS_SECONDS
        return self._domains

    async def _call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def run(self, stopping: asyncio.Event) -> None:
        """Receive and handle messages until `stopping` is set; then let those in hand end."""
        slots = asyncio.Semaphore(self.settings.concurrency)
        handling: set[asyncio.Task[None]] = set()
        retry = RECEIVE_RETRY_SECONDS
        try:
            while await _acquire(slots, stopping):
                wanted = 1
                while wanted < MAX_BATCH and not slots.locked():
                    await slots.acquire()  # free: returns at once
                    wanted += 1
                try:
                    received = await self._receive(wanted, stopping)
                except Exception as exc:
                    for _ in range(wanted):
                        slots.release()
                    log.warning("SQS receive failed (retrying in %.0f s): %s", retry, exc)
                    await _sleep_unless(stopping, retry)
                    retry = min(retry * 2, RECEIVE_RETRY_MAX_SECONDS)
                    continue
                retry = RECEIVE_RETRY_SECONDS
                for _ in range(wanted - len(received)):
                    slots.release()
                for message in received:
                    task = asyncio.create_task(self.handle(message))
                    handling.add(task)
                    task.add_done_callback(handling.discard)
                    task.add_done_callback(lambda _: slots.release())
        finally:
            if handling:
                log.info("finishing the %d messages in hand", len(handling))
                await asyncio.gather(*handling, return_exceptions=True)

    async def _receive(self, wanted: int, stopping: asyncio.Event) -> list[QueueMessage]:
        settings = self.settings
        received = await self._call(
            self.queue.receive,
            wanted,
            wait_seconds=settings.wait_seconds,
            visibility_seconds=settings.visibility_seconds,
        )
        if received:
            now = utcnow()
            ages = [(now - m.sent_at).total_seconds() for m in received if m.sent_at]
            if ages:
                self.stats.queue_lag_seconds = max(0.0, max(ages))
                metrics.QUEUE_LAG.set(self.stats.queue_lag_seconds)
        if received and stopping.is_set():
            # Told to stop while the receive waited: hand the messages back rather than
            # start on them (visible again at once, for another worker).
            await asyncio.gather(
                *(self._call(self.queue.retry_after, m.receipt_handle, 0) for m in received),
                return_exceptions=True,
            )
            log.info("handed back %d messages received while stopping", len(received))
            return []
        return received

    async def handle(self, message: QueueMessage) -> None:
        """Handle one SQS message: delete it once done, or leave it to come back."""
        try:
            await self._process(message)
        except Exception as exc:
            self.stats.failed += 1
            metrics.WORKER_MESSAGES.labels("failed").inc()
            await self._back_off(message, exc)
            return
        try:
            await self._call(self.queue.delete, message.receipt_handle)
        except Exception as exc:  # it comes back, and is then a duplicate
            log.warning("SQS message %s handled but not deleted: %s", message.message_id, exc)
        self.stats.processed += 1
        metrics.WORKER_MESSAGES.labels("deleted").inc()

    async def _back_off(self, message: QueueMessage, exc: Exception) -> None:
        attempt, most = message.receive_count, self.settings.max_attempts
        trace = not isinstance(exc, _EXPECTED)
        if attempt >= most:
            delay = 0
            log.error(
                "SQS message %s failed %d times, the last: %s; left to the dead-letter queue",
                message.message_id,
                attempt,
                exc,
                exc_info=trace,
            )
        else:
            delay = backoff_seconds(attempt, self.settings.retry_seconds)
            log.warning(
                "SQS message %s failed (attempt %d of %d): %s; retried in %d s",
                message.message_id,
                attempt,
                most,
                exc,
                delay,
                exc_info=trace,
            )
        try:
            await self._call(self.queue.retry_after, message.receipt_handle, delay)
        except Exception as error:  # it comes back after its visibility timeout instead
            log.warning("could not delay SQS message %s: %s", message.message_id, error)

    async def _process(self, message: QueueMessage) -> None:
        notification = parse_notification(message.body)
        if notification.test_event:
            log.info("SQS message %s: an S3 test event, deleted", message.message_id)
            return
        for record in notification.created:
            await self._store(record)

    async def _store(self, record: ObjectCreated) -> None:
        message_id = ses.message_id_of_key(record.key)
        if record.bucket == self.bucket.name and (
            message_id is None or message_id == ses.SETUP_NOTIFICATION
        ):
            log.info("%s: not a message SES stored, skipped", location(record.bucket, record.key))
            return
        raw = await ses.fetch_stored(
            self.services,
            self.bucket,
            record,
            message_id=message_id,
            door=DOOR,
            run=self._call,
        )
        if raw is None or message_id is None:
            return
        where = location(record.bucket, record.key)
        settings = self.services.settings
        envelope = ses.envelope_of(
            raw,
            message_id,
            domain=settings.inboxes.domain,
            max_recipients=settings.inbound.max_recipients,
            door=DOOR,
            custom_domains=await self._custom_domains(),
        )
        await ses.receive(self.services, raw, envelope, location=where)


async def _acquire(slots: asyncio.Semaphore, stopping: asyncio.Event) -> bool:
    """Take a slot; False (and none taken) once `stopping` is set."""
    if stopping.is_set():
        return False
    if not slots.locked():
        await slots.acquire()
        return True
    acquiring = asyncio.ensure_future(slots.acquire())
    stopped = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({acquiring, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not acquiring.done():
        acquiring.cancel()
        try:
            await acquiring
        except asyncio.CancelledError:
            return False
    if stopping.is_set():
        slots.release()
        return False
    return True


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
