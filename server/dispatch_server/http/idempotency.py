"""`Idempotency-Key` on POST routes, with Stripe's semantics: the one place that decides what
a retried request gets.

A POST that declares itself idempotent and carries the header is answered once. For 24
hours after, the same API key with the same key and the same request (method, path and
body) gets the first answer again, marked `Idempotent-Replayed: true`; with another request,
409 `idempotency_key_reused`; while the first is still being answered, 409
`idempotency_key_in_use`. Only a success is kept. A request refused with a DomainError
changed nothing (the route's transaction rolled back), so the key is released and a retry
runs again; after anything else (a crash, a cancelled request at shutdown) the route may
have committed, so the key stays claimed and retries get `idempotency_key_in_use` until it
expires: never a second run. Keys are per API key, so two callers cannot see each other's
answers; a route with no caller (signup) does not read the header, nor one whose answer
holds a secret shown once (a new API key), which would be kept in clear for a day.

Answers older than a day are deleted at every claim, by any API key.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

import attrs
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput
from dispatch_server.db import Database, dialect
from dispatch_server.db import tables as t

log = logging.getLogger("dispatch_server.http")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_FOR = timedelta(hours=24)
# Printable ASCII, as Stripe takes (a UUID v4 is the usual).
_VALID_KEY = re.compile(r"[!-~]{1,255}")

_T = t.idempotency_keys
_CLAIM = dialect.per_dialect(
    lambda insert: insert(_T).on_conflict_do_nothing(
        index_elements=[_T.c.api_key_id, _T.c.idempotency_key]
    )
)


class IdempotencyKeyReused(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class IdempotencyKeyInUse(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_IN_USE


@attrs.frozen
class Kept:
    """The first answer, to give again."""

    status: int
    body: bytes


def request_key(request: Request) -> str | None:
    """The request's Idempotency-Key, or None; a 400 naming the header if it is malformed."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not _VALID_KEY.fullmatch(value):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 printable ASCII characters", param="Idempotency-Key"
        )
    return value


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def claim(conn: sa.Connection, api_key_id: str, key: str, fingerprint: str) -> Kept | None:
    """Claim the key for this request: None when the request should run now, the kept
    answer when it ran before; raises when the key belongs to another request or is busy."""
    now = utcnow()
    conn.execute(_T.delete().where(_T.c.created_at < now - KEPT_FOR))  # by the index
    where = sa.and_(_T.c.api_key_id == api_key_id, _T.c.idempotency_key == key)
    inserted = conn.execute(
        _CLAIM[dialect.name(conn)],
        {
            "api_key_id": api_key_id,
            "idempotency_key": key,
            "request_hash": fingerprint,
            "state": "started",
            "created_at": now,
        },
    )
    if inserted.rowcount == 1:
        return None
    row = conn.execute(sa.select(_T).where(where)).one_or_none()
    if row is None:  # PostgreSQL: the claim that held it was released since the insert
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key was being answered; retry it",
            param="Idempotency-Key",
        )
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for another request in the last 24 hours; "
            "use a new key for a new request",
            param="Idempotency-Key",
        )
    if row.state != "done":
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key is still being answered; retry later",
            param="Idempotency-Key",
        )
    return Kept(status=row.status, body=bytes(row.response_body))


def keep(conn: sa.Connection, api_key_id: str, key: str, answer: Kept) -> None:
    conn.execute(
        _T.update()
        .where(_T.c.api_key_id == api_key_id, _T.c.idempotency_key == key)
        .values(state="done", status=answer.status, response_body=answer.body)
    )


def release(conn: sa.Connection, api_key_id: str, key: str) -> None:
    conn.execute(
        _T.delete().where(
            _T.c.api_key_id == api_key_id,
            _T.c.idempotency_key == key,
            _T.c.state == "started",
        )
    )


async def answer_once(
    db: Database,
    request: Request,
    body: bytes,
    api_key_id: str,
    key: str,
    run: Callable[[], Awaitable[Response]],
) -> Response:
    """The route's answer (`run`), or the one kept for this key; `body` is the request's."""
    fingerprint = request_hash(request.method, request.url.path, body)
    kept = await db.run_write(claim, api_key_id, key, fingerprint)
    if kept is not None:
        return _replay(kept)
    try:
        response = await run()
    except DomainError:
        await _release(db, api_key_id, key)
        raise
    # Anything else (a crash, a cancellation) leaves the key claimed: see the module.
    if isinstance(response, JSONResponse) and 200 <= response.status_code < 300:
        await db.run_write(keep, api_key_id, key, Kept(response.status_code, bytes(response.body)))
    elif response.status_code >= 400:  # an error answered by the route: nothing was done
        await _release(db, api_key_id, key)
    # A success that is not kept (streamed) leaves the key claimed too: it ran once.
    return response


async def _release(db: Database, api_key_id: str, key: str) -> None:
    try:
        await db.run_write(release, api_key_id, key)
    except Exception:  # the request's own error is the one to report
        log.exception("could not release Idempotency-Key %r; it stays claimed", key)


def _replay(kept: Kept) -> Response:
    return Response(
        kept.body,
        status_code=kept.status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )
