"""GET /v1/ops/status: the inbound path's health for operators, guarded by the ops token
(`x-dispatch-ops-token`, DISPATCH_OPS_TOKEN), or read by an admin operator with their token
(`Authorization: Bearer <jwt>`, see DISPATCH_ADMIN_EMAILS).

It shows the queue's depth and its dead-letter queue's (SQS's approximate counts), the age of
the queue's oldest message (CloudWatch's ApproximateAgeOfOldestMessage, see worker.queue),
each worker's liveness from its heartbeats, and per door the last ingest and the count of the
last hour, with what was dropped in the last hour.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import datetime, timedelta

import attrs
import sqlalchemy as sa

from dispatch_server.api.auth import require_admin
from dispatch_server.auth.backends import bearer_token
from dispatch_server.auth.operators import looks_like_jwt, read_token
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, Unauthorized
from dispatch_server.domain import inbound_rejections, ops, workers
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field
from dispatch_server.services import Services
from dispatch_server.worker.queue import OldestMessageAge, Queue, oldest_message_age

log = logging.getLogger("dispatch_server.ops")

TOKEN_HEADER = "x-dispatch-ops-token"
SQS_TIMEOUT_SECONDS = 5.0


class OpsDisabled(DomainError):
    code = ErrorCode.OPS_DISABLED


def check_token(expected: str | None, given: str | None) -> None:
    if not expected:
        raise OpsDisabled("set DISPATCH_OPS_TOKEN to enable it")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(f"missing or wrong {TOKEN_HEADER}")


@attrs.frozen(kw_only=True)
class QueueStatus:
    url: str | None = field(description="null when the dead-letter queue could not be found")
    visible: int | None = field(description="messages waiting to be received")
    in_flight: int | None = field(description="received and not yet deleted (being handled)")
    delayed: int | None = field(description="sent with a delay, not yet visible")
    error: str | None = field(description="why SQS could not be read; the counts are then null")


@attrs.frozen(kw_only=True)
class WorkerStatus:
    worker_id: str
    host: str
    pid: int
    liveness: workers.Liveness = field(
        description="`live`; `stale` when its last heartbeat is older than "
        "DISPATCH_WORKER_STALE_AFTER_BEATS heartbeat intervals (it died, or cannot reach the "
        "database); `stopped` after a graceful stop"
    )
    started_at: datetime
    last_beat_at: datetime
    stopped_at: datetime | None
    processed: int = field(description="SQS messages handled and deleted")
    failed: int = field(description="handlings that failed and were left to come back")
    queue_lag_seconds: float | None = field(
        description="how old the last message it received was, at its receipt"
    )


@attrs.frozen(kw_only=True)
class DoorStatus:
    door: str = field(
        description="smtp, webhook, ses_sqs, ses_sns, local; `unrecorded` for mail stored "
        "before doors were recorded"
    )
    last_ingest_at: datetime | None
    last_hour: int = field(description="messages stored in the last hour")


@attrs.frozen(kw_only=True)
class DroppedCount:
    door: str
    reason: str = field(description="an error code (`unknown_recipient`...) or `bucket_mismatch`")
    count: int


@attrs.frozen(kw_only=True)
class OpsStatus:
    generated_at: datetime
    queue: QueueStatus | None = field(description="null without DISPATCH_SQS_QUEUE_URL")
    dead_letter_queue: QueueStatus | None = field(
        description="DISPATCH_SQS_DLQ_URL, else the queue's redrive target; null without a queue"
    )
    oldest_message_age_seconds: float | None = field(
        description="the queue's ApproximateAgeOfOldestMessage, its latest CloudWatch datapoint "
        "(SQS publishes it each minute); null without a queue, when CloudWatch has no "
        "datapoint in the last 15 minutes, or cannot be read"
    )
    oldest_message_age_at: datetime | None = field(
        description="the minute of that datapoint: CloudWatch shows it a few minutes late"
    )
    queue_lag_seconds: float | None = field(description="the largest queue lag of the live workers")
    workers: tuple[WorkerStatus, ...] = field(description="the newest first")
    doors: tuple[DoorStatus, ...]
    dropped_last_hour: tuple[DroppedCount, ...] = field(
        description="inbound mail recorded and dropped in the last hour (inbound_rejections)"
    )


async def check_caller(call: Call[None]) -> None:
    """The ops token in its header; else an admin operator's token as the Bearer."""
    services = call.services
    given = call.request.headers.get(TOKEN_HEADER)
    bearer = bearer_token(call.request)
    if given is None and bearer is not None and looks_like_jwt(bearer):
        await require_admin(services, read_token(services.settings.operators, bearer))
        return
    check_token(services.settings.ops.token, given)


async def status(call: Call[None]) -> OpsStatus:
    await check_caller(call)
    return await read_status(call.services)


async def read_status(services: Services) -> OpsStatus:
    """The inbound path's health now (the API's route and the console's ops page)."""
    now = utcnow()
    stale_after = timedelta(seconds=services.settings.worker.stale_after_seconds)
    (queue, dead_letters), oldest = await asyncio.gather(_queues(services), _oldest(services, now))
    states, doors, dropped = await services.db.run_read(_read, now, stale_after)
    live_lags = [w.queue_lag_seconds for w in states if w.liveness == "live"]
    return OpsStatus(
        generated_at=now,
        queue=queue,
        dead_letter_queue=dead_letters,
        oldest_message_age_seconds=None if oldest is None else oldest.seconds,
        oldest_message_age_at=None if oldest is None else oldest.measured_at,
        queue_lag_seconds=max((lag for lag in live_lags if lag is not None), default=None),
        workers=tuple(WorkerStatus(**attrs.asdict(state)) for state in states),
        doors=tuple(DoorStatus(**attrs.asdict(door)) for door in doors),
        dropped_last_hour=tuple(
            DroppedCount(door=door, reason=reason, count=count)
            for door, reasons in sorted(dropped.items())
            for reason, count in sorted(reasons.items())
        ),
    )


def _read(
    conn: sa.Connection, now: datetime, stale_after: timedelta
) -> tuple[list[workers.WorkerState], list[ops.DoorActivity], dict[str, dict[str, int]]]:
    return (
        workers.workers(conn, now, stale_after),
        ops.door_activity(conn, now),
        inbound_rejections.counts_since(conn, now - ops.LAST_HOUR),
    )


async def _queues(services: Services) -> tuple[QueueStatus | None, QueueStatus | None]:
    queue = services.inbound_queue
    if queue is None:
        return None, None
    dlq_url = services.settings.worker.dlq_url
    try:
        async with asyncio.timeout(SQS_TIMEOUT_SECONDS):
            depth = await asyncio.to_thread(queue.depth)
            main = QueueStatus(url=queue.url, error=None, **attrs.asdict(depth))
            if dlq_url is None:
                redrive = await asyncio.to_thread(queue.redrive)
                if redrive is None:
                    return main, QueueStatus(
                        url=None,
                        visible=None,
                        in_flight=None,
                        delayed=None,
                        error="the queue has no redrive policy",
                    )
                dlq_url = await asyncio.to_thread(queue.url_of, redrive.dead_letter_arn)
    except Exception as exc:
        log.warning("ops status: SQS not read: %s", exc)
        failed = _unread(queue.url, exc)
        return failed, _unread(dlq_url, exc)
    try:
        async with asyncio.timeout(SQS_TIMEOUT_SECONDS):
            dead = await asyncio.to_thread(Queue(queue.client, dlq_url).depth)
    except Exception as exc:
        log.warning("ops status: the dead-letter queue not read: %s", exc)
        return main, _unread(dlq_url, exc)
    return main, QueueStatus(url=dlq_url, error=None, **attrs.asdict(dead))


async def _oldest(services: Services, now: datetime) -> OldestMessageAge | None:
    queue, cloudwatch = services.inbound_queue, services.queue_metrics
    if queue is None or cloudwatch is None:
        return None
    try:
        async with asyncio.timeout(SQS_TIMEOUT_SECONDS):
            return await asyncio.to_thread(oldest_message_age, cloudwatch, queue.url, now)
    except Exception as exc:  # no cloudwatch:GetMetricStatistics, or CloudWatch is away
        log.warning("ops status: the oldest message's age not read from CloudWatch: %s", exc)
        return None


def _unread(url: str | None, exc: Exception) -> QueueStatus:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return QueueStatus(url=url, visible=None, in_flight=None, delayed=None, error=reason[:500])


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/ops/status",
        handler=status,
        summary=f"The inbound path's health, for operators ({TOKEN_HEADER}, or an admin's token)",
        description="Queue and dead-letter depths, workers' liveness, ingest per door, "
        "dropped mail.",
        scope=None,
        response=OpsStatus,
        openapi_extra={"security": [{"opsToken": []}, {"operatorToken": []}]},
    )
]
