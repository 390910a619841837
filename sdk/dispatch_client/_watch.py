"""`events.watch()` with no I/O: the requests it opens, the SSE it reads, and when and how
soon it reconnects. The sync and async loops in resources/events.py only carry these out.

The policy: a stream that breaks (connection refused or reset, the server closing it, no
byte, not even a heartbeat, for `idle_timeout`), or a 429/5xx answer, is opened again after
a backoff: 0.2 s doubling to at most 10 s, at least the server's `retry:` (a `Retry-After`
on 429/503 too), each with up to 50 % added at random so that clients cut off together do
not come back together. It resumes with `Last-Event-ID`: the id of the last event yielded
(or the position the server gave when the stream opened), so no event is lost or yielded
twice. Once a stream opens the count starts again. Any other 4xx is raised: it will not get
better by retrying.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import attrs

from dispatch_client._constants import MAX_RETRY_AFTER, RETRY_STATUSES
from dispatch_client._core import (
    Call,
    Credentials,
    Request,
    Response,
    exclusive,
    inbox_path,
    mint_inbox_key,
)
from dispatch_client._errors import (
    APIConnectionError,
    DispatchError,
    InvalidArgumentError,
    retry_after_seconds,
    status_error,
)
from dispatch_client._sse import SseParser
from dispatch_client.types._decode import decode
from dispatch_client.types.event import EVENT_TYPES, PAYLOADS, Event

FIRST_DELAY = 0.2
MAX_DELAY = 10.0
JITTER = 0.5  # up to this share of the delay added at random
DEFAULT_IDLE_TIMEOUT = 45.0  # three of the server's default 15 s heartbeats


@attrs.frozen
class Reconnect:
    """Open the stream again after `delay` seconds, running `call` first (minting a key)."""

    delay: float
    call: Call[None] | None = None


def backoff(failures: int, retry_seconds: float | None, rand: float) -> float:
    """The wait before reconnection number `failures` (1: the first in a row) given the
    server's `retry:` and a random number in [0, 1)."""
    delay = max(FIRST_DELAY * 2.0 ** (failures - 1), retry_seconds or 0.0)
    return min(MAX_DELAY, delay * (1 + JITTER * rand))


def check_types(types: Sequence[str] | None) -> tuple[str, ...]:
    if types is None:
        return ()
    if isinstance(types, str):
        types = [types]
    if not all(isinstance(name, str) and name.strip() for name in types):
        raise InvalidArgumentError(
            f"types must be event type names, such as {EVENT_TYPES[0]!r}", param="types"
        )
    return tuple(dict.fromkeys(name.strip() for name in types))


def check_after(after: int | None) -> int | None:
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise InvalidArgumentError(
            f"after must be an event id (an integer, 0 or more), got {after!r}", param="after"
        )
    return after


def check_reconnects(max_reconnects: int | None) -> int | None:
    if max_reconnects is not None and (
        isinstance(max_reconnects, bool)
        or not isinstance(max_reconnects, int)
        or max_reconnects < 0
    ):
        raise InvalidArgumentError(
            f"max_reconnects must be None or an integer, 0 or more, got {max_reconnects!r}",
            param="max_reconnects",
        )
    return max_reconnects


def event_of(data: str) -> Event:
    """The event in a frame's data: strictly decoded, its payload too when its type is
    known."""
    try:
        raw = json.loads(data)
    except ValueError:
        raise DispatchError(
            f"expected an event as JSON from the stream, got {data[:200]!r}"
        ) from None
    event = decode(raw, Event)
    model = PAYLOADS.get(event.type)
    return event if model is None else attrs.evolve(event, payload=decode(event.data, model))


class WatchSession:
    """One `watch()`: where it is in the log and what to do next."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        inbox_id: str | None,
        types: Sequence[str] | None,
        after: int | None,
        idle_timeout: float,
        max_reconnects: int | None,
        rand: random.Random | None = None,
    ) -> None:
        self.credentials = credentials
        self.inbox_id = inbox_id
        self.path = "/v1/events" if inbox_id is None else inbox_path(inbox_id, "events")
        self.types = check_types(types)
        self.last_id = check_after(after)
        # What the caller has been handed: `last_id` runs ahead of it while a chunk's events
        # are yielded one by one; a checkpoint must not.
        self.yielded_id = self.last_id
        self.idle_timeout = idle_timeout
        self.max_reconnects = check_reconnects(max_reconnects)
        self.failures = 0  # reconnections in a row that did not open a stream
        self.reconnects = 0  # in all
        self.retry_seconds: float | None = None
        self._rand = rand or random.Random()
        self._parser = SseParser()
        self._key = ""
        self._minted = False

    # --- opening -------------------------------------------------------------------------

    def request(self) -> Request:
        """The request that opens (or reopens) the stream."""
        cached = None if self.inbox_id is None else self.credentials.inbox_keys.get(self.inbox_id)
        self._key = cached or self.credentials.require_key()
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        return Request(
            method="GET",
            path=self.path,
            params={"types": ",".join(self.types)} if self.types else None,
            headers=headers,
            api_key=self._key,
            read_timeout=self.idle_timeout,
        )

    def opened(self, response: Response) -> Reconnect | None:
        """None: read the stream; else when to try again. Raises a refusal to keep."""
        if response.status == 200:
            self.failures = 0
            self._parser = SseParser()
            return None
        credentials, inbox_id = self.credentials, self.inbox_id
        if inbox_id is not None:
            cached = credentials.inbox_keys.get(inbox_id)
            if (
                response.status == 401
                and self._key == cached
                and credentials.api_key
                not in (
                    None,
                    cached,
                )
            ):
                credentials.forget(inbox_id, self._key)  # revoked: back to the client's key
                return Reconnect(0.0)
            if response.status == 403 and self._key != cached and not self._minted:
                self._minted = True
                return Reconnect(0.0, _mint_or_refuse(credentials, inbox_id, self._key, response))
        error = status_error(response.status, response.content, response.headers)
        if response.status not in RETRY_STATUSES and response.status < 500:
            raise error
        after = retry_after_seconds(response.headers.get("retry-after"))
        if after is not None and after > MAX_RETRY_AFTER:
            raise error
        return self._again(error, at_least=after)

    # --- reading -------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[Event]:
        """The events `chunk` completes, each once: one at or before the resume point is
        dropped (a server answering a resume again from an earlier place)."""
        events: list[Event] = []
        for frame in self._parser.feed(chunk):
            event = event_of(frame.data)
            if self.last_id is None or event.id > self.last_id:
                events.append(event)
                self.last_id = event.id
        committed = self._parser.committed_id
        if committed is not None and committed.isascii() and committed.isdigit():
            position = int(committed)  # e.g. the opening `id:` of a stream from the newest
            if self.last_id is None or position > self.last_id:
                self.last_id = position
        if self._parser.retry_ms is not None:
            self.retry_seconds = self._parser.retry_ms / 1000
        return events

    # --- breaking ------------------------------------------------------------------------

    def ended(self) -> Reconnect:
        """The server closed the stream (restarting, say): open it again."""
        return self._again(
            APIConnectionError(
                f"the event stream at {self.path} kept closing",
                method="GET",
                url=self.path,
            )
        )

    def failed(self, error: DispatchError) -> Reconnect:
        """Opening or reading the stream failed: try again if the server may come back (the
        connection), else raise `error`."""
        if not isinstance(error, APIConnectionError):
            raise error
        return self._again(error)

    def _again(self, error: DispatchError, *, at_least: float | None = None) -> Reconnect:
        self.failures += 1
        if self.max_reconnects is not None and self.reconnects >= self.max_reconnects:
            raise error
        self.reconnects += 1
        delay = backoff(self.failures, self.retry_seconds, self._rand.random())
        return Reconnect(max(delay, at_least or 0.0))


def _mint_or_refuse(
    credentials: Credentials, inbox_id: str, key: str, refused: Response
) -> Call[None]:
    """Mint (or find) an inbox key for the account key `key`; the refusal if it cannot."""
    minted = yield from exclusive(f"mint {inbox_id}", mint_inbox_key(credentials, inbox_id, key))
    if minted is None:
        raise status_error(refused.status, refused.content, refused.headers)
