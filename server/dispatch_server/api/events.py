"""The event streams: `GET /v1/events` (account key, every inbox of the workspace) and
`GET /v1/inboxes/{inbox_id}/events` (that inbox), as Server-Sent Events over the event log.

A stream subscribes to its workspace's wake-ups before it reads the log, then sends what
follows its cursor, in `seq` order, and waits for the next wake-up: so nothing committed
after the subscription is missed, and the cursor (the last id sent) makes every event go out
once. `Last-Event-ID` (what EventSource sends when it reconnects) or `?after=` resumes after
an id; without either the stream starts at the newest event. A comment line every
`DISPATCH_EVENT_HEARTBEAT_SECONDS` keeps proxies from closing an idle stream, and the log is
read again then too, which covers a wake-up that never came (another process on SQLite).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Protocol

import attrs
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dispatch_server.auth import policy
from dispatch_server.auth.api_keys import KeyRefused
from dispatch_server.auth.principal import Scope
from dispatch_server.core.errors import InvalidInput
from dispatch_server.db import Database
from dispatch_server.domain import inboxes, webhooks
from dispatch_server.events import log as event_log
from dispatch_server.events.hub import STREAM_PREFIX
from dispatch_server.events.log import Event
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.services import Services

AFTER = params.integer(
    "after",
    default=-1,
    low=-1,
    high=2**62,
    description="resume after this event id (as `Last-Event-ID`); -1: from the newest event",
)
TYPES = params.text(
    "types", description="comma-separated event types to send (default: every type)"
)
RETRY_MS = 1000  # what EventSource waits before it reconnects


def stream_topic(workspace_id: str) -> str:
    """The hub's key for a workspace's event wake-ups."""
    return STREAM_PREFIX + workspace_id


def parse_types(raw: str | None) -> tuple[str, ...]:
    """The event types a `types` parameter names (comma-separated); (): every type."""
    if not raw:
        return ()
    asked = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [name for name in asked if name not in event_log.TYPES]
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0]!r}; the types are {', '.join(event_log.TYPES)}",
            param="types",
        )
    return asked


@attrs.frozen
class ResumePoint:
    """Where a stream resumes (None: from the newest event), and what said so."""

    after: int | None
    param: str = "after"


def resume_point(request: Request, after: int) -> ResumePoint:
    """`Last-Event-ID`, else `after` (the `?after=` value; -1: none)."""
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        value = header.strip()
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise InvalidInput("Last-Event-ID must be an event id", param="Last-Event-ID")
        return ResumePoint(int(value), "Last-Event-ID")
    return ResumePoint(None if after < 0 else after)


class StreamAccess(Protocol):
    """How a stream keeps checking that its caller may still read it."""

    def held(self) -> AbstractContextManager[object]:
        """Held while the stream is open."""
        ...

    async def still_allowed(self) -> bool:
        """Asked before events go out: False ends the stream."""
        ...


@attrs.frozen
class KeyAccess:
    """An API key's stream: it ends once the key is revoked."""

    services: Services
    key_id: str

    def held(self) -> AbstractContextManager[object]:
        return self.services.hub.keys.held(self.services.db, self.key_id)

    async def still_allowed(self) -> bool:
        try:
            await self.services.hub.keys.require_active(self.services.db, self.key_id)
        except KeyRefused:
            return False
        return True


def frame(event: Event) -> bytes:
    """One event as an SSE frame: `id`, `event` and `data` (one line of JSON)."""
    text = webhooks.event_body(
        seq=event.seq,
        type=event.type,
        created_at=event.created_at,
        inbox_id=event.inbox_id,
        payload=event.payload,
    )
    return f"id: {event.seq}\nevent: {event.type}\ndata: {text}\n\n".encode()


@attrs.frozen
class Frames:
    """A page of the log as SSE frames, and the position the read reached."""

    encoded: list[bytes]
    position: int
    full: bool  # a whole page: more may follow at once


class _SharedRead:
    """One read of the log, shared by the streams that ask for the same page before its
    query starts: a commit wakes every stream of the workspace at once, and 10,000 of them
    would otherwise read the same rows 10,000 times (and encode each frame as often)."""

    def __init__(self) -> None:
        self.started = False
        self.task: asyncio.Future[Frames] | None = None


# Per database, the reads not started yet, by what they read.
_pending: weakref.WeakKeyDictionary[Database, dict[tuple[object, ...], _SharedRead]] = (
    weakref.WeakKeyDictionary()
)


async def read_frames(
    db: Database,
    workspace_id: str,
    *,
    after: int,
    inbox_id: str | None,
    types: tuple[str, ...],
    reader: policy.EventReader | None = None,
) -> Frames:
    """The frames of the events after `after` (a page). A caller joins a read of the same
    page only while that read's query has not started: its query then runs after whatever
    commit woke the caller, so it sees it."""
    reads = _pending.setdefault(db, {})
    key = (workspace_id, after, inbox_id, types, reader)
    shared = reads.get(key)
    if shared is None or shared.started or shared.task is None:
        shared = reads[key] = _SharedRead()
        mine = shared

        def read(conn: sa.Connection) -> Frames:
            mine.started = True  # before the query: later callers start their own
            if reads.get(key) is mine:
                reads.pop(key, None)
            found = event_log.read_after(
                conn, workspace_id, after=after, inbox_id=inbox_id, types=types
            )
            events = found.events
            if reader is not None:  # filtered, but the position moves past them all
                events = [e for e in events if reader.sees(e.type, e.payload)]
            return Frames(
                encoded=[frame(event) for event in events],
                position=found.position,
                full=len(found.events) == event_log.PAGE,
            )

        task = asyncio.ensure_future(db.run_read(read))
        task.add_done_callback(_retrieve)
        shared.task = task
    # Shielded: a stream that goes away does not cancel the read of the others.
    return await asyncio.shield(shared.task)


def _retrieve(task: asyncio.Future[Frames]) -> None:
    if not task.cancelled():
        task.exception()  # each caller gets it; none is "never retrieved"


async def open_stream(
    services: Services,
    workspace_id: str,
    inbox_id: str | None,
    *,
    types: tuple[str, ...],
    resume: ResumePoint,
    access: StreamAccess,
    reader: policy.EventReader | None = None,
) -> Response:
    """The workspace's events (one inbox's, unless `inbox_id` is None) as an SSE response:
    the API's streams and the console's mail desk both stream through this."""
    db = services.db
    # Checked before the stream starts, so an expired resume point is a plain 410.
    newest = await db.run_read(event_log.latest_seq, workspace_id)
    if resume.after is None:
        cursor = newest
    else:
        if resume.after > newest:
            raise InvalidInput(
                f"the resume point {resume.after} is after the newest event ({newest}): not "
                "an id of this workspace's stream",
                param=resume.param,
            )
        await db.run_read(event_log.read_after, workspace_id, after=resume.after, limit=1)
        cursor = resume.after
    heartbeat = services.settings.events.heartbeat_seconds
    hub = services.hub

    async def frames() -> AsyncIterator[bytes]:
        nonlocal cursor
        with access.held():
            async with hub.subscribe(stream_topic(workspace_id)) as sub:
                # `id:` without data sets the client's Last-Event-ID: a stream opened "from
                # the newest" that breaks before its first event resumes from here.
                yield f"retry: {RETRY_MS}\nid: {cursor}\n: stream of workspace events\n\n".encode()
                while not hub.stopping:
                    page = await read_frames(
                        db,
                        workspace_id,
                        after=cursor,
                        inbox_id=inbox_id,
                        types=types,
                        reader=reader,
                    )
                    # A caller refused meanwhile (a revoked key) sees no more: the stream ends.
                    if page.encoded and not await access.still_allowed():
                        return
                    for encoded in page.encoded:
                        yield encoded
                    if page.position > cursor and not page.encoded:
                        # Past events it does not want: its resume point moves on too.
                        yield f"id: {page.position}\n\n".encode()
                    cursor = page.position
                    if page.full:
                        continue  # more to catch up on before waiting
                    # A wake-up that came while the log was read makes this return at once.
                    if not await sub.wait(heartbeat):
                        yield b": heartbeat\n\n"
                    sub.take()

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _open(call: Call[None], inbox_id: str | None) -> Response:
    reader = None
    senders = policy.senders_of(call.principal)
    if senders is not None and inbox_id is not None:
        inbox = await call.services.db.run_read(
            inboxes.get_inbox, call.principal.workspace_id, inbox_id
        )
        reader = policy.EventReader(senders, policy.sender_allowed(senders, inbox.address))
    return await open_stream(
        call.services,
        call.principal.workspace_id,
        inbox_id,
        types=parse_types(call.query(TYPES)),
        resume=resume_point(call.request, call.query(AFTER)),
        access=KeyAccess(call.services, call.principal.key_id),
        reader=reader,
    )


async def workspace_events(call: Call[None]) -> Response:
    return await _open(call, None)


async def inbox_events(call: Call[None]) -> Response:
    return await _open(call, call.path("inbox_id"))


_DESCRIPTION = (
    "Server-Sent Events: `id:` the event id, `event:` its type, `data:` the event as JSON "
    "(`id`, `type`, `created_at`, `inbox_id`, `data`). Resume with `Last-Event-ID` or "
    "`?after=`: what followed is sent in order, once, then the stream goes on live. A resume "
    "point older than the kept window is `410 events_expired`."
)
_SSE = {"200": {"description": "the stream", "content": {"text/event-stream": {}}}}

ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/events",
        handler=workspace_events,
        summary="The workspace's events, every inbox, as a resumable stream",
        description=_DESCRIPTION,
        scope=Scope.ACCOUNT,
        query=(AFTER, TYPES),
        openapi_extra={"responses": _SSE},
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/events",
        handler=inbox_events,
        summary="The inbox's events as a resumable stream",
        description=_DESCRIPTION,
        scope=Scope.INBOX,
        permission="read",
        query=(AFTER, TYPES),
        openapi_extra={"responses": _SSE},
    ),
]
