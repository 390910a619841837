"""The HTTP/1.1 connection: uvicorn's httptools protocol with deadlines for reading a request.

httptools (llhttp, the parser of Node.js) rather than h11: under a herd of answers at once
(a thousand waits on one inbox) h11's pure-Python parsing and encoding took about a third of
the server's time per answer.

uvicorn waits for a request head or body as long as the client likes, so a client sending a
byte every few seconds (or nothing at all) holds a connection, and the part of a body it
sent, forever. Here:

- the request head (request line and headers) must arrive whole within `header_timeout`
  of the connection opening or of the previous response: else the connection is closed,
  with a `408` if part of a head came;
- the body must keep coming: at most `body_timeout` between two pieces, and, past the first
  `body_timeout`, on average at least `body_min_rate` bytes a second. Else a `408` if the
  app is still reading it (answered by the app, so it is logged like any answer), and the
  connection is closed.

Time the server itself holds the client back (reading paused because the app has not read
what came, or a `100 Continue` not sent yet) does not count against the client.

A request's scope also carries `ONE_WRITE` (see `in_one_write`): for an answer sent whole
in one step, as a woken herd of waits is answered, one write to the socket instead of two.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, cast

import attrs
import httptools
from uvicorn._types import ASGIReceiveCallable, ASGIReceiveEvent, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from dispatch_server.config import Http
from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.http.errors import error_body

log = logging.getLogger("dispatch_server.http")

MAX_HEAD_BYTES = 16 * 1024  # the request line and headers of one request
ONE_WRITE = "dispatch.one_write"

T = TypeVar("T")


class RequestTimeout(DomainError):
    code = ErrorCode.REQUEST_TIMEOUT


@attrs.frozen
class Deadlines:
    header_timeout: float
    body_timeout: float
    body_min_rate: float  # bytes a second; 0: no minimum

    @classmethod
    def of(cls, http: Http) -> Deadlines:
        return cls(http.header_timeout_seconds, http.body_timeout_seconds, http.body_min_rate)


class _Phase(enum.Enum):
    HEAD = "head"  # waiting for a request head
    BODY = "body"  # the request's body is still coming
    NONE = "none"  # nothing to wait for from the client: the app is answering


def protocol_class(http: Http) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn.Config(http=...), with these settings' deadlines."""
    return type("DispatchHttpProtocol", (DeadlineHttpProtocol,), {"deadlines": Deadlines.of(http)})


class DeadlineHttpProtocol(HttpToolsProtocol):
    """One connection. It follows the client through the phases of each request (waiting
    for a head, reading a body, nothing while the app answers), with one timer for the
    deadline of the phase it is in; `protocol_class` sets `deadlines`."""

    deadlines: ClassVar[Deadlines]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inner_app = self.app
        self.app = self._app_reading_in_time
        self._phase = _Phase.NONE
        self._since = 0.0  # when the phase began
        self._last_data = 0.0  # when the last piece of the body came
        self._body_bytes = 0
        self._head_started = False
        self._message_begun = False  # the parser has begun a request whose head is not whole
        self._head_bytes = 0  # of the request line and headers of the head being read
        self._head_too_large = False
        self._body_late = False  # the body is late: the app's next read is a 408
        self._timer: asyncio.TimerHandle | None = None

    # --- uvicorn's hooks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self._phase is _Phase.HEAD:
            self._head_started = True
        elif self._phase is _Phase.BODY:
            self._body_bytes += len(data)
            self._last_data = self.loop.time()
        super().data_received(data)
        self._watch()

    def on_message_begin(self) -> None:
        self._message_begun = True
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # with ": " and the line's end
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._message_begun = False
        super().on_headers_complete()

    def _count_head(self, size: int) -> None:
        """httptools reads a head of any size: past MAX_HEAD_BYTES the parse stops (raising
        in a callback ends feed_data), and send_400_response answers 431 instead."""
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise httptools.HttpParserError("request head too large")

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info(
            "closing the connection of %s: request head over %d bytes (431)", client, MAX_HEAD_BYTES
        )
        self.transport.write(_HEAD_TOO_LARGE_RESPONSE)
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    # --- the deadlines ------------------------------------------------------------------

    def _current_phase(self) -> _Phase:
        if self.transport.is_closing():
            return _Phase.NONE
        cycle = self.cycle  # the request parsed last (a pipelined one waits in self.pipeline)
        if cycle is None or cycle.response_complete:
            return _Phase.NONE if self.pipeline else _Phase.HEAD
        if cycle.more_body:
            return _Phase.BODY
        return _Phase.NONE

    def _watch(self) -> None:
        """Follow the connection into its next phase, and arm the timer for it."""
        phase = self._current_phase()
        if phase is self._phase:
            return
        self._phase = phase
        self._since = self._last_data = self.loop.time()
        self._body_bytes = 0
        self._head_started = self._message_begun
        if phase is _Phase.HEAD:
            self._body_late = False
        self._cancel_timer()
        if phase is not _Phase.NONE:
            self._timer = self.loop.call_at(self._deadline(), self._on_timer)

    def _deadline(self) -> float:
        d = self.deadlines
        if self._phase is _Phase.HEAD:
            return self._since + d.header_timeout
        idle = self._last_data + d.body_timeout
        if d.body_min_rate == 0:
            return idle
        return min(idle, self._since + d.body_timeout + self._body_bytes / d.body_min_rate)

    def _on_timer(self) -> None:
        self._timer = None
        if self._phase is _Phase.NONE or self.transport.is_closing():
            return
        now = self.loop.time()
        if self._phase is _Phase.BODY and self._held_back_by_us():
            self._since = self._last_data = now  # a fresh allowance once we read again
            self._body_bytes = 0
        elif now >= self._deadline():
            self._expire()
            return
        self._timer = self.loop.call_at(self._deadline(), self._on_timer)

    def _held_back_by_us(self) -> bool:
        cycle = self.cycle
        waiting = cycle is not None and cycle.waiting_for_100_continue
        return self.flow.read_paused or waiting

    def _expire(self) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if self._phase is _Phase.HEAD:
            if self._head_started:
                log.info("closing the connection of %s: request head too slow (408)", client)
                self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            log.info("closing the connection of %s: request body too slow", client)
            self.transport.close()
            return
        # The app answers the 408 at its next read (now, if it is reading), then closes.
        self._body_late = True
        cycle.keep_alive = False
        cycle.message_event.set()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- the app's side -----------------------------------------------------------------

    async def _app_reading_in_time(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        async def receive_in_time() -> ASGIReceiveEvent:
            if not self._body_late:
                message = await receive()
                if not self._body_late or message["type"] != "http.request":
                    return message
            raise RequestTimeout(
                f"the request body did not arrive in time (at most "
                f"{self.deadlines.body_timeout:g} s between two pieces)"
            )

        cycle = getattr(send, "__self__", None)  # uvicorn's send is its cycle's method
        if isinstance(cycle, RequestResponseCycle):
            cast(dict[str, Any], scope)[ONE_WRITE] = _OneWrite(cycle)
        await self._inner_app(scope, receive_in_time, send)


def in_one_write(scope: Mapping[str, Any], step: Callable[[], T]) -> T:
    """`step()`, with what it writes to the request's connection held and written in one
    go when it returns (or raises): for a step that sends a whole answer without
    suspending, the head and the body leave in one system call. Without the protocol's
    support (another server, a test client), just `step()`."""
    one_write: _OneWrite | None = scope.get(ONE_WRITE)
    return step() if one_write is None else one_write(step)


class _OneWrite:
    __slots__ = ("cycle",)

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle = cycle

    def __call__(self, step: Callable[[], T]) -> T:
        cycle = self.cycle
        transport = cycle.transport
        held = cycle.transport = cast(asyncio.Transport, _HeldWrites(transport))
        try:
            return step()
        finally:
            cycle.transport = transport
            cast(_HeldWrites, held).release()


class _HeldWrites:
    """Stands in for a cycle's transport: holds its writes until `release` (or a close)."""

    __slots__ = ("_data", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._data.append(data)

    def close(self) -> None:
        self.release()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def release(self) -> None:
        if self._data:
            data, self._data = self._data, []
            self._transport.write(b"".join(data))


def _closing_response(status: str, code: ErrorCode, message: str) -> bytes:
    body = json.dumps(error_body(code, message), separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


# Written as they are: there is no whole request to answer through the app.
_TIMEOUT_RESPONSE = _closing_response(
    "408 Request Timeout", ErrorCode.REQUEST_TIMEOUT, "the request head did not arrive in time"
)
_HEAD_TOO_LARGE_RESPONSE = _closing_response(
    "431 Request Header Fields Too Large",
    ErrorCode.HEAD_TOO_LARGE,
    f"the request line and headers are limited to {MAX_HEAD_BYTES} bytes",
)
