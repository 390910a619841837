"""Carrying calls over HTTP: the sync and async drivers and their one retry policy."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from time import monotonic
from typing import Any, Generic, TypeVar

import attrs
import httpx

from dispatch_client._constants import (
    BASE_DELAY,
    MAX_DELAY,
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    USER_AGENT,
)
from dispatch_client._core import Call, Exclusive, Request, Response, Step, layered
from dispatch_client._errors import (
    APIConnectionError,
    APITimeoutError,
    DispatchError,
    retry_after_seconds,
)
from dispatch_client._options import CallOptions

T = TypeVar("T")
L = TypeVar("L")

# What sending can raise besides an answer: httpx's errors, and what building a request
# from a bad value raises (InvalidURL; UnicodeEncodeError for a non-ASCII header value).
SEND_ERRORS = (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError)
# Errors whose text can quote a request header's value, such as the API key: never shown.
HEADER_QUOTING_ERRORS = (httpx.LocalProtocolError, UnicodeEncodeError)


# --- the retry policy ------------------------------------------------------------------


def retry_delay(
    attempt: int,
    max_retries: int,
    request: Request,
    *,
    response: Response | None = None,
    error: Exception | None = None,
) -> float | None:
    """Seconds to wait before retry number `attempt + 1`, or None to give up.

    Retried, for every method: connection failures (the request never left) and
    429/502/503/504 (the server did not process it). For GET, and for a POST the server
    answers once per Idempotency-Key (`Request.idempotent`), as they are safe to repeat:
    timeouts and broken connections, except the read timeout of a long poll; and for such a
    POST a 409 `idempotency_key_in_use` (the first attempt is still being answered: the
    retry gets its answer). Nothing else. After the answer's Retry-After when it is 0 to
    MAX_RETRY_AFTER seconds away; not at all when it is further (a daily quota used up: the
    error, with its `retry_after`, is raised at once rather than slept on for hours).
    """
    if attempt >= max_retries:
        return None
    if error is not None:
        if not _retryable_error(error, request):
            return None
    elif response is None or not (
        response.status in RETRY_STATUSES or _first_attempt_still_running(response, request)
    ):
        return None
    if response is not None:
        after = retry_after_seconds(response.headers.get("retry-after"))
        if after is not None and after > MAX_RETRY_AFTER:
            return None  # a quota that resets at midnight: no retry would pass before
        if after is not None and after >= 0:
            return after
    # Exponential backoff, capped, minus up to 25 % jitter so clients spread out.
    return min(MAX_DELAY, BASE_DELAY * 2.0**attempt) * (1.0 - random.random() / 4)


def _retryable_error(error: Exception, request: Request) -> bool:
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if request.method != "GET" and not request.idempotent:
        return False
    if request.long_poll and isinstance(error, httpx.ReadTimeout):
        return False
    return isinstance(
        error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
    )


def _first_attempt_still_running(response: Response, request: Request) -> bool:
    if not (request.idempotent and response.status == 409):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == "idempotency_key_in_use"


def next_delay(
    attempt: int,
    max_retries: int,
    request: Request,
    *,
    response: Response | None = None,
    error: Exception | None = None,
) -> float | None:
    """`retry_delay`, unless that retry would start past the request's deadline: then None,
    and the last failure stands. For a wait too: a server that cannot be reached, or answers
    5xx, until the wait's time is up says nothing about whether mail arrived, so it is that
    error the caller gets, never a WaitTimeoutError."""
    delay = retry_delay(attempt, max_retries, request, response=response, error=error)
    if delay is None or request.deadline is None or monotonic() + delay < request.deadline:
        return delay
    return None


# --- requests and failures -------------------------------------------------------------


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _build(
    client: httpx.Client | httpx.AsyncClient,
    base_url: str,
    request: Request,
    options: CallOptions,
    idempotency_key: str,
) -> httpx.Request:
    post = request.method == "POST"
    headers = layered(
        {"User-Agent": USER_AGENT, "Accept": "application/json"},
        {"Idempotency-Key": idempotency_key} if post else {},  # the call's own, by default
        request.headers or {},
        options.extra_headers,
        {"Idempotency-Key": options.idempotency_key} if post and options.idempotency_key else {},
        {"Authorization": f"Bearer {request.api_key}"} if request.api_key else {},
    )
    timeout = client.timeout if options.timeout is None else httpx.Timeout(options.timeout)
    if request.read_timeout is not None:
        timeout = httpx.Timeout(
            connect=timeout.connect,
            read=request.read_timeout,
            write=timeout.write,
            pool=timeout.pool,
        )
    return client.build_request(
        request.method,
        base_url + request.path,
        params=dict(request.params) if request.params else None,
        json=request.json,
        headers=headers,  # httpx refuses non-ASCII values here (UnicodeEncodeError)
        timeout=timeout,
    )


def failure(error: Exception, request: Request, base_url: str) -> DispatchError:
    """The DispatchError a sending error is raised as: naming what was tried, never a key."""
    if isinstance(error, HEADER_QUOTING_ERRORS):
        return DispatchError(
            "the request could not be sent: a header value has characters HTTP does not allow"
        )
    url = str(httpx.URL(base_url + request.path, params=request.params))
    tried = f"{base_url} ({request.method} {request.path})"
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(
            f"the Dispatch server at {tried} did not answer in time: {_reason(error)}",
            method=request.method,
            url=url,
            original=error,
        )
    if isinstance(error, httpx.TransportError):
        return APIConnectionError(
            f"could not reach the Dispatch server at {tried}: {_reason(error)}",
            method=request.method,
            url=url,
            original=error,
        )
    return DispatchError(f"the HTTP request to {tried} failed: {error}")


_TIMEOUTS: dict[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "timed out connecting",
    httpx.ReadTimeout: "timed out waiting for the answer",
    httpx.WriteTimeout: "timed out sending the request",
    httpx.PoolTimeout: "timed out waiting for a free connection",
}


def _reason(error: Exception) -> str:
    """What went wrong, worded the same by the sync and the async transport (whose own
    messages differ: '[Errno 111] Connection refused' and 'All connection attempts failed')."""
    for kind, text in _TIMEOUTS.items():
        if isinstance(error, kind):
            return text
    cause = _os_error(error)
    if isinstance(cause, socket.gaierror):
        return f"could not resolve the host name ({cause.strerror})"
    if cause is not None and cause.errno:
        text = os.strerror(cause.errno)
        return text[:1].lower() + text[1:]
    return str(error) or type(error).__name__


def _os_error(error: BaseException) -> OSError | None:
    """The innermost OSError with an errno in the chain of `error`, if any."""
    found: OSError | None = None
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            found = current
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__
    return found


def _check_open(client: httpx.Client | httpx.AsyncClient) -> None:
    if client.is_closed:
        raise DispatchError(
            "this client is closed (after close(), aclose() or its `with` block): "
            "create a new Dispatch / AsyncDispatch"
        )


def _response(raw: httpx.Response) -> Response:
    return Response(status=raw.status_code, headers=raw.headers, content=raw.content)


# --- streams ---------------------------------------------------------------------------


@attrs.frozen
class Opened(Generic[L]):
    """A streamed answer: its status and headers (and its body, read whole, when it is not a
    200), and the body's chunks as they come (L: an iterator or an async iterator of bytes;
    a failure reading them is raised as a DispatchError, like one opening the stream)."""

    response: Response
    chunks: L


def _head(raw: httpx.Response, content: bytes = b"") -> Response:
    return Response(status=raw.status_code, headers=raw.headers, content=content)


# --- single-flight locks ---------------------------------------------------------------


@attrs.define
class _Entry(Generic[L]):
    lock: L
    users: int = 0  # holding it or waiting for it


class SyncLocks:
    """Named locks for threads, each kept only while someone holds or waits for it, so one
    lock per inbox does not pile up."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry[threading.Lock]] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            entry = self._entries.setdefault(name, _Entry(threading.Lock()))
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._guard:
                entry.users -= 1
                if entry.users == 0:
                    del self._entries[name]


class AsyncLocks:
    """`SyncLocks` for asyncio tasks (one event loop: no guard needed)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry[asyncio.Lock]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        entry = self._entries.setdefault(name, _Entry(asyncio.Lock()))
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[name]


# --- drivers ---------------------------------------------------------------------------


class SyncDriver:
    """Runs calls with blocking httpx; shared by a client and its with_options() copies."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.sleep = sleep
        self.locks = SyncLocks()

    def run(self, call: Call[T], options: CallOptions) -> T:
        """Carry out the steps of `call` until it returns; it is closed however this ends."""
        idempotency_key = options.idempotency_key or new_idempotency_key()
        try:
            step = next(call)
            while True:
                try:
                    outcome = self._carry_out(step, options, idempotency_key)
                except DispatchError as error:
                    step = call.throw(error)
                else:
                    step = call.send(outcome)
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            call.close()

    def _carry_out(self, step: Step, options: CallOptions, idempotency_key: str) -> Any:
        if isinstance(step, Exclusive):
            with self.locks.hold(step.name):
                return self.run(step.call, attrs.evolve(options, idempotency_key=None))
        return self.send(step, options, idempotency_key)

    def send(self, request: Request, options: CallOptions, idempotency_key: str) -> Response:
        _check_open(self.client)
        attempt = 0
        while True:
            try:
                built = _build(self.client, self.base_url, request, options, idempotency_key)
                raw = self.client.send(built)
            except SEND_ERRORS as error:
                failed = failure(error, request, self.base_url)
                delay = next_delay(attempt, options.max_retries, request, error=error)
                if delay is None:
                    raise failed from None
            else:
                response = _response(raw)
                delay = next_delay(attempt, options.max_retries, request, response=response)
                if delay is None:
                    return response
            self.sleep(delay)
            attempt += 1

    @contextmanager
    def stream(self, request: Request, options: CallOptions) -> Iterator[Opened[Iterator[bytes]]]:
        """Open `request` once (no retries: the caller has its own policy), its body not
        read ahead; the connection is closed when the block ends."""
        _check_open(self.client)
        try:
            raw = self.client.send(
                _build(self.client, self.base_url, request, options, ""), stream=True
            )
        except SEND_ERRORS as error:
            raise failure(error, request, self.base_url) from None
        try:
            if raw.status_code != 200:
                try:
                    content = raw.read()
                except SEND_ERRORS as error:
                    raise failure(error, request, self.base_url) from None
                yield Opened(_head(raw, content), iter(()))
            else:
                yield Opened(_head(raw), self._chunks(raw.iter_bytes(), request))
        finally:
            raw.close()

    def _chunks(self, chunks: Iterable[bytes], request: Request) -> Iterator[bytes]:
        try:
            yield from chunks
        except SEND_ERRORS as error:
            raise failure(error, request, self.base_url) from None


class AsyncDriver:
    """`SyncDriver` for asyncio."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.sleep = sleep
        self.locks = AsyncLocks()

    async def run(self, call: Call[T], options: CallOptions) -> T:
        """Carry out the steps of `call` until it returns; it is closed however this ends
        (including cancellation)."""
        idempotency_key = options.idempotency_key or new_idempotency_key()
        try:
            step = next(call)
            while True:
                try:
                    outcome = await self._carry_out(step, options, idempotency_key)
                except DispatchError as error:
                    step = call.throw(error)
                else:
                    step = call.send(outcome)
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            call.close()

    async def _carry_out(self, step: Step, options: CallOptions, idempotency_key: str) -> Any:
        if isinstance(step, Exclusive):
            async with self.locks.hold(step.name):
                return await self.run(step.call, attrs.evolve(options, idempotency_key=None))
        return await self.send(step, options, idempotency_key)

    async def send(self, request: Request, options: CallOptions, idempotency_key: str) -> Response:
        _check_open(self.client)
        attempt = 0
        while True:
            try:
                built = _build(self.client, self.base_url, request, options, idempotency_key)
                raw = await self.client.send(built)
            except SEND_ERRORS as error:
                failed = failure(error, request, self.base_url)
                delay = next_delay(attempt, options.max_retries, request, error=error)
                if delay is None:
                    raise failed from None
            else:
                response = _response(raw)
                delay = next_delay(attempt, options.max_retries, request, response=response)
                if delay is None:
                    return response
            await self.sleep(delay)
            attempt += 1

    @asynccontextmanager
    async def stream(
        self, request: Request, options: CallOptions
    ) -> AsyncIterator[Opened[AsyncIterator[bytes]]]:
        """`SyncDriver.stream` for asyncio."""
        _check_open(self.client)
        try:
            built = _build(self.client, self.base_url, request, options, "")
            raw = await self.client.send(built, stream=True)
        except SEND_ERRORS as error:
            raise failure(error, request, self.base_url) from None
        try:
            if raw.status_code != 200:
                try:
                    content = await raw.aread()
                except SEND_ERRORS as error:
                    raise failure(error, request, self.base_url) from None
                yield Opened(_head(raw, content), _no_chunks())
            else:
                yield Opened(_head(raw), self._chunks(raw.aiter_bytes(), request))
        finally:
            await raw.aclose()

    async def _chunks(self, chunks: AsyncIterator[bytes], request: Request) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        except SEND_ERRORS as error:
            raise failure(error, request, self.base_url) from None


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield  # an async generator
