"""The events resource: `watch()`, the workspace's or an inbox's event stream as an iterator
that reconnects and resumes by itself (the policy is in _watch.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Self, Unpack

from dispatch_client._core import segment
from dispatch_client._errors import DispatchError
from dispatch_client._options import (
    WAIT_OPTION_NAMES,
    CallOptions,
    WaitOptions,
    call_options,
    check_timeout,
)
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client._transport import AsyncDriver, SyncDriver
from dispatch_client._watch import DEFAULT_IDLE_TIMEOUT, WatchSession
from dispatch_client.types.event import Event


class EventStream:
    """The events of `d.events.watch()`, as they happen: iterate it; `close()` it (or leave
    its `with` block, or break out of a `for` over it) to close the connection.

    `last_id` is the id of the last event it yielded, or the position the server gave when
    it opened (None before): pass it as `after=` to a later watch to go on from there.
    """

    def __init__(self, events: Iterator[Event], session: WatchSession) -> None:
        self._events = events
        self._session = session

    @property
    def last_id(self) -> int | None:
        """Where this stream is in the log (see the class)."""
        return self._session.yielded_id

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        """Stop watching and close the connection."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEventStream:
    """`EventStream` for asyncio: `async for event in stream`; `await stream.aclose()` (or
    `async with`) closes the connection. Breaking out of an `async for` leaves an async
    iterator open until it is garbage collected, so close it or use `async with`."""

    def __init__(self, events: AsyncIterator[Event], session: WatchSession) -> None:
        self._events = events
        self._session = session

    @property
    def last_id(self) -> int | None:
        """Where this stream is in the log (see EventStream)."""
        return self._session.yielded_id

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        return await anext(self._events)

    async def aclose(self) -> None:
        """Stop watching and close the connection."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _session(
    resource: SyncResource | AsyncResource,
    inbox_id: str | None,
    types: Sequence[str] | None,
    after: int | None,
    idle_timeout: float,
    max_reconnects: int | None,
    options: WaitOptions,
) -> tuple[WatchSession, CallOptions]:
    if inbox_id is not None:
        segment(inbox_id, "inbox_id")
    session = WatchSession(
        resource._credentials,
        inbox_id=inbox_id,
        types=types,
        after=after,
        idle_timeout=check_timeout(idle_timeout),
        max_reconnects=max_reconnects,
    )
    return session, call_options(resource._client._options, options, WAIT_OPTION_NAMES)


def _watch_sync(driver: SyncDriver, session: WatchSession, options: CallOptions) -> Iterator[Event]:
    while True:
        try:
            with driver.stream(session.request(), options) as opened:
                again = session.opened(opened.response)
                if again is None:
                    for chunk in opened.chunks:
                        for event in session.feed(chunk):
                            session.yielded_id = event.id
                            yield event
                        session.yielded_id = session.last_id
                    again = session.ended()
        except DispatchError as error:
            again = session.failed(error)
        if again.call is not None:
            driver.run(again.call, options)
        if again.delay > 0:
            driver.sleep(again.delay)


async def _watch_async(
    driver: AsyncDriver, session: WatchSession, options: CallOptions
) -> AsyncIterator[Event]:
    while True:
        try:
            async with driver.stream(session.request(), options) as opened:
                again = session.opened(opened.response)
                if again is None:
                    async for chunk in opened.chunks:
                        for event in session.feed(chunk):
                            session.yielded_id = event.id
                            yield event
                        session.yielded_id = session.last_id
                    again = session.ended()
        except DispatchError as error:
            again = session.failed(error)
        if again.call is not None:
            await driver.run(again.call, options)
        if again.delay > 0:
            await driver.sleep(again.delay)


class Events(SyncResource):
    """The event log: `for event in d.events.watch(): ...`."""

    def watch(
        self,
        inbox_id: str | None = None,
        *,
        types: Sequence[str] | None = None,
        after: int | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_reconnects: int | None = None,
        **options: Unpack[WaitOptions],
    ) -> EventStream:
        """The workspace's events (or one inbox's) as they happen, reconnecting by itself.

        Each event is yielded once, in order. A dropped connection, a server restarting, a
        429/5xx answer, or a stream silent for `idle_timeout` is reopened after a backoff
        (0.2 s doubling to 10 s, at least the server's `retry:`, with jitter), resuming after
        the last event yielded, so nothing is lost or repeated. Nothing is sent until the
        first event is asked for. With an account key, an inbox's stream gets an inbox key
        minted and cached, as other inbox calls do.

        Args:
            inbox_id: Only this inbox's events (its stream, `/v1/inboxes/{id}/events`);
                None: every inbox of the workspace (`/v1/events`, an account key).
            types: Only events of these types, e.g. ["message.received"]; None: all.
            after: Start after this event id (`Event.id`, `EventStream.last_id`), replaying
                what followed it; None: from the newest event on.
            idle_timeout: Seconds without a byte (the server sends a heartbeat every 15 s by
                default) after which the connection is taken as dead and reopened.
            max_reconnects: Give up after this many reconnections in all and raise the last
                failure; None: never give up on a server that may come back.
            **options: Per-call options: max_retries (of minting an inbox key),
                extra_headers (see WaitOptions).

        Returns:
            An iterator of Event (EventStream, AsyncEventStream with `async for`); close it,
                or watch in a `with` (`async with`) block, to close the connection.

        Raises:
            EventsExpiredError: `after` (or where the stream was) is older than the events
                the server keeps; list the current state again, then watch from the newest.
            AuthenticationError: the key is unknown or revoked.
            PermissionDeniedError: an inbox key, without `inbox_id` or for another inbox.
            NotFoundError: no such inbox for this key.
            BadRequestError: an event type the server does not know.
            InvalidArgumentError: a negative `after`, `idle_timeout` or `max_reconnects`.
            APIConnectionError: the server could not be reached `max_reconnects` times.
        """
        session, resolved = _session(
            self, inbox_id, types, after, idle_timeout, max_reconnects, options
        )
        return EventStream(_watch_sync(self._client._driver, session, resolved), session)


class AsyncEvents(AsyncResource):
    """The event log: `async for event in d.events.watch(): ...`."""

    def watch(
        self,
        inbox_id: str | None = None,
        *,
        types: Sequence[str] | None = None,
        after: int | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_reconnects: int | None = None,
        **options: Unpack[WaitOptions],
    ) -> AsyncEventStream:
        """The workspace's events (or one inbox's) as they happen, reconnecting by itself.

        Each event is yielded once, in order. A dropped connection, a server restarting, a
        429/5xx answer, or a stream silent for `idle_timeout` is reopened after a backoff
        (0.2 s doubling to 10 s, at least the server's `retry:`, with jitter), resuming after
        the last event yielded, so nothing is lost or repeated. Nothing is sent until the
        first event is asked for. With an account key, an inbox's stream gets an inbox key
        minted and cached, as other inbox calls do.

        Args:
            inbox_id: Only this inbox's events (its stream, `/v1/inboxes/{id}/events`);
                None: every inbox of the workspace (`/v1/events`, an account key).
            types: Only events of these types, e.g. ["message.received"]; None: all.
            after: Start after this event id (`Event.id`, `EventStream.last_id`), replaying
                what followed it; None: from the newest event on.
            idle_timeout: Seconds without a byte (the server sends a heartbeat every 15 s by
                default) after which the connection is taken as dead and reopened.
            max_reconnects: Give up after this many reconnections in all and raise the last
                failure; None: never give up on a server that may come back.
            **options: Per-call options: max_retries (of minting an inbox key),
                extra_headers (see WaitOptions).

        Returns:
            An iterator of Event (EventStream, AsyncEventStream with `async for`); close it,
                or watch in a `with` (`async with`) block, to close the connection.

        Raises:
            EventsExpiredError: `after` (or where the stream was) is older than the events
                the server keeps; list the current state again, then watch from the newest.
            AuthenticationError: the key is unknown or revoked.
            PermissionDeniedError: an inbox key, without `inbox_id` or for another inbox.
            NotFoundError: no such inbox for this key.
            BadRequestError: an event type the server does not know.
            InvalidArgumentError: a negative `after`, `idle_timeout` or `max_reconnects`.
            APIConnectionError: the server could not be reached `max_reconnects` times.
        """
        session, resolved = _session(
            self, inbox_id, types, after, idle_timeout, max_reconnects, options
        )
        return AsyncEventStream(_watch_async(self._client._driver, session, resolved), session)
