"""Webhook endpoints and their deliveries.

An account key registers endpoints (a URL, the event types it wants, a `whsec_` secret). When
an event is appended to the log, `fan_out` adds, in the same transaction, one delivery per
enabled endpoint of the workspace that wants its type, with the event's JSON as the body. The
sending processes (dispatch_server.outbound.webhooks) find deliveries that are `due`, `claim`
one (a lease taken by one conditional UPDATE, so two processes never attempt it at once; a
claim never recorded lapses and the delivery is attempted again: at least once) and record
what came of the attempt. A failed attempt is retried on the schedule of
DISPATCH_WEBHOOK_RETRY_SCHEDULE; after the last one the delivery is `failed`, and an endpoint
with DISPATCH_WEBHOOK_DISABLE_AFTER such failures in a row is disabled, saying why.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from dispatch_server.core.clock import rfc3339
from dispatch_server.core.errors import InvalidInput, NotFound
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.core.pagination import Cursor, Page
from dispatch_server.db import notices
from dispatch_server.db import tables as t
from dispatch_server.db.paging import page
from dispatch_server.outbound.webhook_client import TargetRefused, parse_url

DeliveryStatus = Literal["pending", "succeeded", "failed"]
SECRET_PREFIX = "whsec_"
# The commit notice of a transaction that made a delivery due: senders in this process wake.
DUE_NOTICE = "webhooks:due"
SECRET_BYTES = 32
PREVIOUS_SECRET_DAYS = 1  # a rotated-out secret still signs this long
MAX_DESCRIPTION_CHARS = 500
MAX_ERROR_CHARS = 500
JITTER = 0.1  # each retry's wait, varied by up to this share either way

_ENDPOINTS = t.webhook_endpoints.c
_DELIVERIES = t.webhook_deliveries.c


@attrs.frozen(kw_only=True)
class Endpoint:
    id: str
    workspace_id: str
    url: str
    description: str | None
    event_types: tuple[str, ...] | None  # None: every type
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class WithSecret:
    """An endpoint just created or rotated, with the secret shown only then."""

    endpoint: Endpoint
    secret: str


@attrs.frozen(kw_only=True)
class Delivery:
    id: str
    endpoint_id: str
    event_id: int
    event_type: str
    webhook_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@attrs.frozen(kw_only=True)
class Claimed:
    """A delivery taken for one attempt: what to send, where, signed with which secrets."""

    id: str
    endpoint_id: str
    url: str
    webhook_id: str
    body: str
    secrets: tuple[str, ...]
    attempts: int  # this attempt's number, from 1


@attrs.frozen(kw_only=True)
class Outcome:
    """What an attempt came to: a 2xx (`ok`), or the status or error that made it fail."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


def webhook_id(workspace_id: str, seq: int) -> str:
    """The delivery's `webhook-id`: the same for every attempt, the receiver's dedupe key."""
    return f"evt_{workspace_id}_{seq}"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


# --- endpoints -----------------------------------------------------------------------------


def check_url(url: str, *, allow_loopback: bool) -> str:
    try:
        parse_url(url, allow_loopback=allow_loopback)
    except TargetRefused as refused:
        raise InvalidInput(f"url {refused}", param="url") from None
    return url


def check_event_types(types: Sequence[str] | None, known: Sequence[str]) -> tuple[str, ...] | None:
    if types is None:
        return None
    if not types:
        raise InvalidInput(
            "event_types must name at least one type (or be left out: every type)",
            param="event_types",
        )
    unknown = [name for name in types if name not in known]
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0][:60]!r}; the types are {', '.join(known)}",
            param="event_types",
        )
    return tuple(dict.fromkeys(types))


def check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(
            f"description must be at most {MAX_DESCRIPTION_CHARS} characters", param="description"
        )
    return description or None


def _endpoint(row: Any) -> Endpoint:
    types = row.event_types
    return Endpoint(
        id=row.id,
        workspace_id=row.workspace_id,
        url=row.url,
        description=row.description,
        event_types=None if types is None else tuple(types),
        enabled=row.enabled,
        consecutive_failures=row.consecutive_failures,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create_endpoint(
    conn: sa.Connection,
    workspace_id: str,
    *,
    url: str,
    event_types: tuple[str, ...] | None,
    enabled: bool,
    description: str | None,
    now: datetime,
) -> WithSecret:
    """A new endpoint with a new secret (its arguments checked by the caller)."""
    endpoint_id, secret = new_id(), new_secret()
    conn.execute(
        sa.insert(t.webhook_endpoints).values(
            id=endpoint_id,
            workspace_id=workspace_id,
            url=url,
            description=description,
            event_types=None if event_types is None else list(event_types),
            enabled=enabled,
            secret=secret,
            consecutive_failures=0,
            created_at=now,
            updated_at=now,
        )
    )
    return WithSecret(endpoint=get_endpoint(conn, workspace_id, endpoint_id), secret=secret)


def _endpoint_row(conn: sa.Connection, workspace_id: str, endpoint_id: str) -> Any:
    row = None
    if is_id(endpoint_id):
        row = conn.execute(
            sa.select(t.webhook_endpoints).where(
                _ENDPOINTS.id == endpoint_id, _ENDPOINTS.workspace_id == workspace_id
            )
        ).one_or_none()
    if row is None:
        raise NotFound("webhook endpoint")
    return row


def get_endpoint(conn: sa.Connection, workspace_id: str, endpoint_id: str) -> Endpoint:
    return _endpoint(_endpoint_row(conn, workspace_id, endpoint_id))


def list_endpoints(
    conn: sa.Connection, workspace_id: str, *, limit: int, cursor: Cursor | None
) -> Page[Endpoint]:
    """The workspace's endpoints, oldest first."""
    query = sa.select(t.webhook_endpoints).where(_ENDPOINTS.workspace_id == workspace_id)
    rows, next_cursor = page(
        conn,
        query,
        t.webhook_endpoints,
        "webhook_endpoint",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
        newest_first=False,
    )
    return Page([_endpoint(row) for row in rows], next_cursor)


_KEEP: Any = object()


def update_endpoint(
    conn: sa.Connection,
    workspace_id: str,
    endpoint_id: str,
    *,
    now: datetime,
    url: str | None = None,
    event_types: Any = _KEEP,
    enabled: bool | None = None,
    description: Any = _KEEP,
) -> Endpoint:
    """Change what is given; enabling an endpoint clears its failures and why it was
    disabled, and its pending deliveries are due at once."""
    row = _endpoint_row(conn, workspace_id, endpoint_id)
    values: dict[str, Any] = {"updated_at": now}
    if url is not None:
        values["url"] = url
    if event_types is not _KEEP:
        values["event_types"] = None if event_types is None else list(event_types)
    if description is not _KEEP:
        values["description"] = description
    if enabled is not None:
        values["enabled"] = enabled
        if enabled and not row.enabled:
            values.update(consecutive_failures=0, disabled_reason=None, disabled_at=None)
            conn.execute(
                t.webhook_deliveries.update()
                .where(_DELIVERIES.endpoint_id == endpoint_id, _DELIVERIES.status == "pending")
                .values(next_attempt_at=now, updated_at=now)
            )
            notices.leave(conn, DUE_NOTICE)
        elif not enabled and row.enabled:
            values.update(disabled_reason="disabled by its owner", disabled_at=now)
    conn.execute(t.webhook_endpoints.update().where(_ENDPOINTS.id == row.id).values(**values))
    return get_endpoint(conn, workspace_id, endpoint_id)


def delete_endpoint(conn: sa.Connection, workspace_id: str, endpoint_id: str) -> Endpoint:
    """Delete the endpoint and its deliveries."""
    endpoint = get_endpoint(conn, workspace_id, endpoint_id)
    conn.execute(sa.delete(t.webhook_deliveries).where(_DELIVERIES.endpoint_id == endpoint_id))
    conn.execute(sa.delete(t.webhook_endpoints).where(_ENDPOINTS.id == endpoint_id))
    return endpoint


def rotate_secret(
    conn: sa.Connection, workspace_id: str, endpoint_id: str, *, now: datetime
) -> WithSecret:
    """A new secret; the one it replaces still signs (beside it) for a day."""
    row = _endpoint_row(conn, workspace_id, endpoint_id)
    secret = new_secret()
    conn.execute(
        t.webhook_endpoints.update()
        .where(_ENDPOINTS.id == row.id)
        .values(
            secret=secret,
            previous_secret=row.secret,
            previous_secret_expires_at=now + timedelta(days=PREVIOUS_SECRET_DAYS),
            updated_at=now,
        )
    )
    return WithSecret(endpoint=get_endpoint(conn, workspace_id, endpoint_id), secret=secret)


# --- fan-out (in the transaction that appends the event) ----------------------------------


def event_body(
    *, seq: int, type: str, created_at: datetime, inbox_id: str | None, payload: dict[str, Any]
) -> str:
    """An event as JSON: what the event streams send as `data:` and deliveries as the body."""
    document = {
        "id": seq,
        "type": type,
        "created_at": rfc3339(created_at),
        "inbox_id": inbox_id,
        "data": payload,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


_ENABLED_ENDPOINTS = sa.select(_ENDPOINTS.id, _ENDPOINTS.event_types).where(
    _ENDPOINTS.workspace_id == sa.bindparam("workspace_id"), _ENDPOINTS.enabled.is_(True)
)
_INSERT_DELIVERIES = sa.insert(t.webhook_deliveries)


def fan_out(
    conn: sa.Connection,
    *,
    workspace_id: str,
    seq: int,
    type: str,
    inbox_id: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """A pending delivery of the event to each enabled endpoint of the workspace that wants
    its type; how many. The body is encoded only when one does (most events have none)."""
    rows = conn.execute(_ENABLED_ENDPOINTS, {"workspace_id": workspace_id}).all()
    wanted = [row.id for row in rows if row.event_types is None or type in row.event_types]
    if wanted:
        body = event_body(seq=seq, type=type, created_at=now, inbox_id=inbox_id, payload=payload)
        conn.execute(
            _INSERT_DELIVERIES,
            [
                {
                    "id": new_id(),
                    "workspace_id": workspace_id,
                    "endpoint_id": endpoint_id,
                    "event_seq": seq,
                    "event_type": type,
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for endpoint_id in wanted
            ],
        )
        notices.leave(conn, DUE_NOTICE)
    return len(wanted)


# --- sending ---------------------------------------------------------------------------------


def due(conn: sa.Connection, now: datetime, *, limit: int) -> list[str]:
    """Pending deliveries of enabled endpoints whose turn has come and that no live claim
    holds, oldest turn first."""
    query = (
        sa.select(_DELIVERIES.id)
        .join(t.webhook_endpoints, _ENDPOINTS.id == _DELIVERIES.endpoint_id)
        .where(
            _DELIVERIES.status == "pending",
            _DELIVERIES.next_attempt_at <= now,
            sa.or_(_DELIVERIES.lease_until.is_(None), _DELIVERIES.lease_until < now),
            _ENDPOINTS.enabled.is_(True),
        )
        .order_by(_DELIVERIES.next_attempt_at)
        .limit(limit)
    )
    return list(conn.scalars(query))


def claim(conn: sa.Connection, delivery_id: str, now: datetime, lease: timedelta) -> Claimed | None:
    """Take the delivery for one attempt, until `now + lease`; None when it is not pending,
    not due, or another claim holds it."""
    taken = conn.execute(
        t.webhook_deliveries.update()
        .where(
            _DELIVERIES.id == delivery_id,
            _DELIVERIES.status == "pending",
            _DELIVERIES.next_attempt_at <= now,
            sa.or_(_DELIVERIES.lease_until.is_(None), _DELIVERIES.lease_until < now),
        )
        .values(lease_until=now + lease, attempts=_DELIVERIES.attempts + 1, updated_at=now)
    )
    if taken.rowcount != 1:
        return None
    row = conn.execute(
        sa.select(
            t.webhook_deliveries,
            _ENDPOINTS.url,
            _ENDPOINTS.enabled,
            _ENDPOINTS.secret,
            _ENDPOINTS.previous_secret,
            _ENDPOINTS.previous_secret_expires_at,
        )
        .join(t.webhook_endpoints, _ENDPOINTS.id == _DELIVERIES.endpoint_id)
        .where(_DELIVERIES.id == delivery_id)
    ).one()
    if not row.enabled:  # disabled since it was found due: it waits, the attempt uncounted
        conn.execute(
            t.webhook_deliveries.update()
            .where(_DELIVERIES.id == delivery_id)
            .values(lease_until=None, attempts=_DELIVERIES.attempts - 1)
        )
        return None
    keys = [row.secret]
    expires = row.previous_secret_expires_at
    if row.previous_secret and expires is not None and expires > now:
        keys.append(row.previous_secret)
    return Claimed(
        id=row.id,
        endpoint_id=row.endpoint_id,
        url=row.url,
        webhook_id=webhook_id(row.workspace_id, row.event_seq),
        body=row.body,
        secrets=tuple(keys),
        attempts=row.attempts,
    )


def retry_delay(attempts: int, schedule: Sequence[float]) -> float | None:
    """Seconds before the attempt after attempt number `attempts`, varied by up to JITTER
    either way; None after the last one."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)


def record(
    conn: sa.Connection,
    claimed: Claimed,
    outcome: Outcome,
    *,
    now: datetime,
    schedule: Sequence[float],
    disable_after: int,
) -> DeliveryStatus | None:
    """Record an attempt's outcome: `succeeded`, `pending` again after a wait, or `failed`
    after the last attempt (and the endpoint disabled at `disable_after` such failures in a
    row). None when the claim was lost meanwhile (it lapsed and another attempt took over:
    that one records)."""
    error = None if outcome.error is None else outcome.error[:MAX_ERROR_CHARS]
    mine = (
        _DELIVERIES.id == claimed.id,
        _DELIVERIES.status == "pending",
        _DELIVERIES.attempts == claimed.attempts,
    )
    common = {
        "lease_until": None,
        "last_status_code": outcome.status_code,
        "last_error": error,
        "updated_at": now,
    }
    endpoints = t.webhook_endpoints.update().where(_ENDPOINTS.id == claimed.endpoint_id)
    if outcome.ok:
        done = conn.execute(
            t.webhook_deliveries.update()
            .where(*mine)
            .values(status="succeeded", next_attempt_at=None, completed_at=now, **common)
        )
        if done.rowcount != 1:
            return None
        conn.execute(endpoints.values(consecutive_failures=0))
        return "succeeded"
    delay = retry_delay(claimed.attempts, schedule)
    if delay is not None:
        done = conn.execute(
            t.webhook_deliveries.update()
            .where(*mine)
            .values(next_attempt_at=now + timedelta(seconds=delay), **common)
        )
        return "pending" if done.rowcount == 1 else None
    done = conn.execute(
        t.webhook_deliveries.update()
        .where(*mine)
        .values(status="failed", next_attempt_at=None, completed_at=now, **common)
    )
    if done.rowcount != 1:
        return None
    conn.execute(endpoints.values(consecutive_failures=_ENDPOINTS.consecutive_failures + 1))
    reason = (
        f"{disable_after} deliveries in a row failed after every retry; the last one: "
        f"{error or f'HTTP {outcome.status_code}'}"
    )
    conn.execute(
        endpoints.where(
            _ENDPOINTS.enabled.is_(True), _ENDPOINTS.consecutive_failures >= disable_after
        ).values(enabled=False, disabled_reason=reason[:MAX_ERROR_CHARS], disabled_at=now)
    )
    return "failed"


# --- the delivery log ------------------------------------------------------------------------


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_seq,
        event_type=row.event_type,
        webhook_id=webhook_id(row.workspace_id, row.event_seq),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


_DELIVERY_COLUMNS = [c for c in t.webhook_deliveries.c if c.name != "body"]


def list_deliveries(
    conn: sa.Connection,
    workspace_id: str,
    endpoint_id: str,
    *,
    limit: int,
    cursor: Cursor | None,
    status: DeliveryStatus | None = None,
) -> Page[Delivery]:
    """The endpoint's deliveries, newest first."""
    get_endpoint(conn, workspace_id, endpoint_id)
    query = sa.select(*_DELIVERY_COLUMNS).where(_DELIVERIES.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(_DELIVERIES.status == status)
    rows, next_cursor = page(
        conn,
        query,
        t.webhook_deliveries,
        "webhook_delivery",
        limit=limit,
        cursor=cursor,
        time_column="created_at",
    )
    return Page([_delivery(row) for row in rows], next_cursor)


def get_delivery(
    conn: sa.Connection, workspace_id: str, endpoint_id: str, delivery_id: str
) -> Delivery:
    get_endpoint(conn, workspace_id, endpoint_id)
    row = None
    if is_id(delivery_id):
        row = conn.execute(
            sa.select(*_DELIVERY_COLUMNS).where(
                _DELIVERIES.id == delivery_id, _DELIVERIES.endpoint_id == endpoint_id
            )
        ).one_or_none()
    if row is None:
        raise NotFound("webhook delivery")
    return _delivery(row)


def replay(
    conn: sa.Connection, workspace_id: str, endpoint_id: str, delivery_id: str, *, now: datetime
) -> Delivery:
    """Queue the delivery again, due now, with a fresh set of attempts (the same body and
    `webhook-id`). A pending one is made due now; an attempt under way is left to finish."""
    get_delivery(conn, workspace_id, endpoint_id, delivery_id)
    conn.execute(
        t.webhook_deliveries.update()
        .where(_DELIVERIES.id == delivery_id, _DELIVERIES.status != "pending")
        .values(status="pending", attempts=0, completed_at=None, lease_until=None)
    )
    conn.execute(
        t.webhook_deliveries.update()
        .where(_DELIVERIES.id == delivery_id)
        .values(next_attempt_at=now, updated_at=now)
    )
    notices.leave(conn, DUE_NOTICE)
    return get_delivery(conn, workspace_id, endpoint_id, delivery_id)


def purge(conn: sa.Connection, *, older_than: datetime, batch: int = 5000) -> int:
    """Delete finished deliveries created before `older_than`, a batch at a time; how many."""
    ids = list(
        conn.scalars(
            sa.select(_DELIVERIES.id)
            .where(_DELIVERIES.created_at < older_than, _DELIVERIES.status != "pending")
            .limit(batch)
        )
    )
    if ids:
        conn.execute(sa.delete(t.webhook_deliveries).where(_DELIVERIES.id.in_(ids)))
    return len(ids)
