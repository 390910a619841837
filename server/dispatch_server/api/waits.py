"""The server-side wait: a long poll that answers as soon as matching mail is committed."""

from __future__ import annotations

import functools
from collections.abc import Coroutine, Generator
from datetime import timedelta
from typing import Any

import attrs
from starlette import types as asgi
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch_server.api.artifacts import Artifact, retention_cutoff
from dispatch_server.api.messages import FOLDER, MessageWithArtifacts
from dispatch_server.api.otp import Otp
from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import InvalidInput
from dispatch_server.core.pagination import Cursor
from dispatch_server.domain import messages, waits
from dispatch_server.events.hub import Arrival
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.protocol import in_one_write
from dispatch_server.http.render import json_response
from dispatch_server.http.shapes import field, to_json

KIND = params.choice("kind", waits.WAIT_KINDS, default="message")
AFTER = params.cursor(
    "after", "message", description="cursor of an earlier answer: the oldest match after it"
)
SINCE = params.timestamp("since", description="the newest match received at or after this time")
FROM = params.text("from", description="substring of the sender's address (not its display name)")
SUBJECT = params.text("subject", description="substring of Subject")
CONSUME = params.choice(
    "consume",
    ("false", "true"),
    default="false",
    description="`true` (with `kind=otp`): take the code, so that no other consuming wait "
    "gets it again; of concurrent consuming waits, exactly one gets each code",
)
LEASE_SECONDS = params.integer(
    "lease_seconds",
    default=0,
    low=0,
    high=3600,
    description="with `consume=true`: the code goes back to the pool after this many seconds "
    "unless confirmed (`POST …/otp/{otp_id}/confirm` with the answer's `otp.lease_id`); "
    "0: taken for good at once",
)
TIMEOUT = params.number(
    "timeout",
    default=30.0,
    low=0.0,
    description="seconds; a longer one than the server's maximum is shortened to it",
)


@attrs.frozen(kw_only=True)
class WaitResult:
    """One wait: the match, or `matched: false` when the time ran out (not an error)."""

    matched: bool
    message: MessageWithArtifacts | None
    otp: Otp | None = field(description="the match's primary OTP")
    link: Artifact | None = field(description="the match's primary link, else its first")
    cursor: str = field(description="pass as `after` to wait for the next message")
    unmatched_count: int = field(
        minimum=0,
        description="on a timeout: messages that arrived in the window but did not pass "
        "the filters; 0 on a match",
    )

    @classmethod
    def of_match(cls, found: messages.MessageWithArtifacts) -> WaitResult:
        otp, link, message = found.otp, found.link, found.message
        return cls(
            matched=True,
            message=MessageWithArtifacts.of_found(found),
            otp=None if otp is None else Otp.of(otp),
            link=None if link is None else Artifact.of(link),
            cursor=Cursor("message", message.received_at, message.id).encode(),
            unmatched_count=0,
        )

    @classmethod
    def of_no_match(cls, wait: waits.WaitFilter, unmatched_count: int) -> WaitResult:
        """The answer of a wait that ran out of time: where it got to, and what else came."""
        return cls(
            matched=False,
            message=None,
            otp=None,
            link=None,
            cursor=wait.resume_cursor().encode(),
            unmatched_count=unmatched_count,
        )


def _filter(call: Call[None]) -> waits.WaitFilter:
    after, since = call.query(AFTER), call.query(SINCE)
    if after is not None and since is not None:
        raise InvalidInput("give after or since, not both", param="since")
    lookback = timedelta(seconds=call.services.settings.waits.lookback_seconds)
    return waits.WaitFilter(
        kind=call.query(KIND),
        folder=messages.visible_folder(
            call.query(FOLDER), memory=policy.reads_memory(call.principal)
        ),
        after=after,
        since=since if since is not None else utcnow() - lookback,
        from_contains=call.query(FROM),
        subject_contains=call.query(SUBJECT),
        senders=policy.senders_of(call.principal),
    )


def _shared_answer(arrival: Arrival) -> Response | None:
    """The answer for every waiter this arrival matched, rendered once for all; None if it is
    large enough to be streamed (then each waiter streams its own)."""
    if arrival.rendered is None:
        response = json_response(to_json(WaitResult.of_match(arrival.found)), 200)
        arrival.rendered = response if isinstance(response, JSONResponse) else False
    rendered: Response | None = arrival.rendered or None
    return rendered


class _AnswerNow:
    """Sends a woken wait's answer in the hub's turn (see `Subscription`), through the same
    ASGI `send` as any answer, so the middleware (request id, access log) and the protocol
    (keep-alive, deadlines) see it alike; only the wait's own task is not resumed first.
    The send does not suspend unless the connection's writes are paused (its client does not
    read); then the wait's task sends the rest."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self._rest: Coroutine[Any, Any, None] | None = None
        self._blocked_on: Any = None
        self._failed: Exception | None = None

    def __call__(self, arrival: Arrival) -> bool:
        response = _shared_answer(arrival)
        if response is None:
            return False
        request = self.request
        sending = response(request.scope, request.receive, request._send)
        try:
            self._blocked_on = in_one_write(request.scope, functools.partial(sending.send, None))
        except StopIteration:
            return True
        except Exception as error:  # the wait's task raises it, as if it had sent
            self._failed = error
            return True
        self._rest = sending
        return True

    async def finish(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._rest is not None:
            await _Resumed(self._rest, self._blocked_on)


class _Resumed:
    """A coroutine begun elsewhere and suspended on `blocked_on`, awaited to its end."""

    def __init__(self, coroutine: Coroutine[Any, Any, None], blocked_on: Any) -> None:
        self.coroutine = coroutine
        self.blocked_on = blocked_on

    def __await__(self) -> Generator[Any, Any, None]:
        blocked_on = self.blocked_on
        while True:
            try:
                value = yield blocked_on
            except BaseException as error:  # thrown in: passed on
                try:
                    blocked_on = self.coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    blocked_on = self.coroutine.send(value)
                except StopIteration:
                    return


class _AlreadySent(Response):
    """What the handler returns for an answer sent already."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        return


async def _consuming_wait(
    call: Call[None], wait_filter: waits.WaitFilter, seconds: float
) -> WaitResult:
    if wait_filter.kind != "otp":
        raise InvalidInput("consume=true takes kind=otp", param="consume")
    lease = call.query(LEASE_SECONDS)
    inbox_id, cutoff = call.path("inbox_id"), retention_cutoff(call)
    found = await waits.wait_to_consume(
        call.services,
        call.principal.key_id,
        inbox_id,
        wait_filter,
        seconds=seconds,
        cutoff=cutoff,
        lease_seconds=lease or None,
        caller_gone=call.request.is_disconnected,
    )
    if found is not None:
        return WaitResult.of_match(found)
    unmatched = await call.services.db.run_read(
        waits.count_unmatched, inbox_id, wait_filter, cutoff=cutoff
    )
    return WaitResult.of_no_match(wait_filter, unmatched)


async def wait(call: Call[None]) -> WaitResult | Response:
    wait_filter = _filter(call)
    # A longer timeout than the server allows is shortened, not refused: running out of time is
    # a normal answer anyway, and clients need not know the server's limit.
    timeout = min(call.query(TIMEOUT), call.services.settings.waits.max_seconds)
    if call.query(CONSUME) == "true":
        return await _consuming_wait(call, wait_filter, timeout)
    if call.query(LEASE_SECONDS):
        raise InvalidInput("lease_seconds takes consume=true", param="lease_seconds")
    answer_now = _AnswerNow(call.request)
    outcome = await waits.wait_for_match(
        call.services,
        call.principal.key_id,
        call.path("inbox_id"),
        wait_filter,
        seconds=timeout,
        cutoff=retention_cutoff(call),
        caller_gone=call.request.is_disconnected,
        answer_now=answer_now,
    )
    if outcome.answered:
        await answer_now.finish()
        return _AlreadySent()
    arrival = outcome.arrival
    if arrival is not None:
        shared = _shared_answer(arrival)
        if shared is not None:
            return shared
        return json_response(to_json(WaitResult.of_match(arrival.found)), 200)
    if outcome.match is not None:
        return WaitResult.of_match(outcome.match)
    return WaitResult.of_no_match(wait_filter, outcome.unmatched_count)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/wait",
        handler=wait,
        summary="Server-side long poll for the next matching message",
        scope=Scope.INBOX,
        permission="wait",
        response=WaitResult,
        query=(KIND, AFTER, SINCE, FROM, SUBJECT, FOLDER, CONSUME, LEASE_SECONDS, TIMEOUT),
    )
]
