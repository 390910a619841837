"""The counters: GET /v1/metrics/public (what the landing page shows, for anyone, cached),
and /metrics, this process's Prometheus metrics (off unless DISPATCH_METRICS_ENABLED)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import attrs
import sqlalchemy as sa
from starlette.datastructures import State
from starlette.responses import Response

from dispatch_server import metrics
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import NotFound
from dispatch_server.domain import ops, workers
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field
from dispatch_server.services import Services

CACHE_SECONDS = 60.0


@attrs.frozen(kw_only=True)
class PublicMetrics:
    inboxes_created: int
    messages_received: int = field(description="messages stored, ever (duplicates once)")
    otps_extracted: int = field(description="one-time codes found in them, ever")
    counted_at: datetime = field(description="counted at most 60 s before this answer")


@attrs.define
class _Counted:
    """The last count, kept on the app (`app.state.public_metrics`)."""

    value: PublicMetrics | None = None
    at: float = 0.0
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    def fresh(self) -> PublicMetrics | None:
        if self.value is not None and time.monotonic() - self.at < CACHE_SECONDS:
            return self.value
        return None


async def public_metrics(call: Call[None]) -> PublicMetrics:
    return await current_public_metrics(call.request.app.state, call.services)


async def current_public_metrics(state: State, services: Services) -> PublicMetrics:
    """The public counters, counted at most once a minute per process (the API's route and
    the console's landing page share the count)."""
    counted: _Counted | None = getattr(state, "public_metrics", None)
    if counted is None:
        counted = state.public_metrics = _Counted()
    found = counted.fresh()
    if found is not None:
        return found
    async with counted.lock:  # one count at a time, however many callers come at once
        found = counted.fresh()
        if found is not None:
            return found
        counters = await services.db.run_read(ops.public_counters)
        found = PublicMetrics(
            inboxes_created=counters.inboxes_created,
            messages_received=counters.messages_received,
            otps_extracted=counters.otps_extracted,
            counted_at=utcnow(),
        )
        counted.value, counted.at = found, time.monotonic()
        return found


async def prometheus(call: Call[None]) -> Response:
    services = call.services
    if not services.settings.ops.metrics_enabled:
        raise NotFound("route (set DISPATCH_METRICS_ENABLED to serve /metrics)")
    metrics.WAITS_OPEN.set(services.hub.waiting)
    lag = await services.db.run_read(_live_lag, services.settings.worker.stale_after_seconds)
    if lag is not None:
        metrics.QUEUE_LAG.set(lag)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)


def _live_lag(conn: sa.Connection, stale_after_seconds: float) -> float | None:
    states = workers.workers(conn, utcnow(), timedelta(seconds=stale_after_seconds))
    lags = [s.queue_lag_seconds for s in states if s.liveness == "live"]
    return max((lag for lag in lags if lag is not None), default=None)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/metrics/public",
        handler=public_metrics,
        summary="Public counters: inboxes created, messages received, OTPs extracted",
        description=f"Counted at most once every {CACHE_SECONDS:.0f} s.",
        scope=None,
        response=PublicMetrics,
    ),
    Endpoint(
        method="GET",
        path="/metrics",
        handler=prometheus,
        summary="Prometheus metrics of this process (with DISPATCH_METRICS_ENABLED; else 404)",
        scope=None,
        openapi_extra={
            "responses": {
                "200": {
                    "description": "the Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            }
        },
    ),
]
