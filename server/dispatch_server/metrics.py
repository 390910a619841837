"""Prometheus metrics of this process (prometheus-client), in a registry of its own: ingest
counts and durations per door, the waits open, and the worker's messages and queue lag.

Counting costs a few hundred nanoseconds and always happens; exposing is off unless
DISPATCH_METRICS_ENABLED: the API then answers `/metrics` on its own port, and each worker
serves `/metrics` on DISPATCH_WORKER_METRICS_PORT. Each process counts its own work: scrape
them all (Prometheus adds them up).
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

__all__ = ["CONTENT_TYPE_LATEST", "exposition", "observe_ingest", "serve"]

REGISTRY = CollectorRegistry()

INGESTED = Counter(
    "dispatch_ingest_messages",
    "Messages through the ingest, by door and outcome (stored, duplicate, or the error code "
    "of a refusal, or error)",
    ["door", "outcome"],
    registry=REGISTRY,
)
INGEST_SECONDS = Histogram(
    "dispatch_ingest_duration_seconds",
    "Time from the ingest's start to its commit (or refusal), by door",
    ["door"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
WAITS_OPEN = Gauge(
    "dispatch_waits_open", "Waits (/wait requests) open in this process", registry=REGISTRY
)
QUEUE_LAG = Gauge(
    "dispatch_queue_lag_seconds",
    "How old the last SQS message a worker received was when it was received (in the API: "
    "the largest of the live workers' last heartbeats)",
    registry=REGISTRY,
)
WORKER_MESSAGES = Counter(
    "dispatch_worker_messages",
    "SQS messages this worker handled, by result (deleted: stored or dropped; failed: left "
    "to come back)",
    ["result"],
    registry=REGISTRY,
)


def observe_ingest(door: str, outcome: str, seconds: float) -> None:
    INGESTED.labels(door, outcome).inc()
    INGEST_SECONDS.labels(door).observe(seconds)


def exposition() -> bytes:
    """Every metric, in the Prometheus text format."""
    return generate_latest(REGISTRY)


def serve(host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve `/metrics` on `host:port` from a thread (the worker's exposition)."""
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    return server, thread
