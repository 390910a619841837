"""Carrying calls over HTTP: the sync and async drivers and their one retry policy."""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from time import monotonic
from typing import Any, NoReturn, TypeVar

import httpx

from dispatch_client._calls import Call, Exclusive, Request, Response, Step
from dispatch_client._errors import (
    APIConnectionError,
    APITimeoutError,
    DispatchError,
    WaitTimeoutError,
    status_error,
)
from dispatch_client._version import __version__

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BASE_DELAY = 0.5
MAX_DELAY = 8.0
# A Retry-After beyond this (or in the past) is not trusted: normal backoff applies instead.
MAX_RETRY_AFTER = 60.0
USER_AGENT = f"dispatch-python/{__version__}"

# What sending can raise besides an answer: httpx's errors, and what building a request
# from a bad value raises (InvalidURL; UnicodeEncodeError for a non-ASCII header value).
SEND_ERRORS = (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError)


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
    429/502/503/504 (the server did not process it). For GET only, as it is safe to repeat:
    timeouts and broken connections, except the read timeout of a long poll. Nothing else.
    """
    if attempt >= max_retries:
        return None
    if error is not None:
        if not _retryable_error(error, request):
            return None
    elif response is None or response.status not in RETRY_STATUSES:
        return None
    if response is not None:
        after = _retry_after(response.headers.get("retry-after"))
        if after is not None and 0 <= after <= MAX_RETRY_AFTER:
            return after
    # Exponential backoff, capped, minus up to 25 % jitter so clients spread out.
    return min(MAX_DELAY, BASE_DELAY * 2.0**attempt) * (1.0 - random.random() / 4)


def _retryable_error(error: Exception, request: Request) -> bool:
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if request.method != "GET":
        return False
    if request.long_poll and isinstance(error, httpx.ReadTimeout):
        return False
    return isinstance(
        error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
    )


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds from now (negative if in the past), or None if unreadable."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


def next_delay(
    attempt: int,
    max_retries: int,
    request: Request,
    *,
    response: Response | None = None,
    error: Exception | None = None,
) -> float | None:
    """`retry_delay`, unless that retry would start past the request's deadline: then None
    (give up: the last error stands), or WaitTimeoutError for a long poll."""
    delay = retry_delay(attempt, max_retries, request, response=response, error=error)
    if delay is None or request.deadline is None or monotonic() + delay < request.deadline:
        return delay
    if not request.long_poll:
        return None
    last: DispatchError
    if response is not None:
        last = status_error(response.status, response.content, response.headers)
    else:
        assert error is not None
        last = _wrap(error)
    raise WaitTimeoutError(
        f"gave up retrying: the next try would start past the deadline; last error: {last}"
    ) from last


# Errors whose text can quote a request header's value, such as the API key: never shown.
HEADER_QUOTING_ERRORS = (httpx.LocalProtocolError, UnicodeEncodeError)


def _wrap(error: Exception) -> DispatchError:
    if isinstance(error, HEADER_QUOTING_ERRORS):
        return DispatchError(
            "the request could not be sent: a header value has characters HTTP does not allow"
        )
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"request timed out: {error}")
    if isinstance(error, httpx.TransportError):
        return APIConnectionError(f"could not reach the Dispatch server: {error}")
    return DispatchError(f"the HTTP request failed: {error}")


def _fail(error: Exception) -> NoReturn:
    """Raise the DispatchError for a sending error (called in its except block)."""
    if isinstance(error, HEADER_QUOTING_ERRORS):
        raise _wrap(error) from None
    raise _wrap(error) from error


def _build(
    client: httpx.Client | httpx.AsyncClient, base_url: str, request: Request
) -> httpx.Request:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(request.headers or {})}
    if request.api_key:
        headers["Authorization"] = f"Bearer {request.api_key}"
    timeout = client.timeout
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
        headers=headers,
        timeout=timeout,
    )


def _check_open(client: httpx.Client | httpx.AsyncClient) -> None:
    if client.is_closed:
        raise DispatchError(
            "this client is closed (after close(), aclose() or its `with` block): "
            "create a new Dispatch / AsyncDispatch"
        )


def _response(raw: httpx.Response) -> Response:
    return Response(status=raw.status_code, headers=raw.headers, content=raw.content)


class SyncDriver:
    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        max_retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.max_retries = max_retries
        self.sleep = sleep
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()  # the client may be shared by threads

    def run(self, call: Call[T]) -> T:
        try:
            step = next(call)
            while True:
                try:
                    outcome = self._carry_out(step)
                except DispatchError as error:
                    step = call.throw(error)
                else:
                    step = call.send(outcome)
        except StopIteration as done:
            result: T = done.value
            return result

    def _carry_out(self, step: Step) -> Any:
        if isinstance(step, Exclusive):
            with self._locks_guard:
                lock = self._locks.setdefault(step.name, threading.Lock())
            with lock:
                return self.run(step.call)
        return self.send(step)

    def send(self, request: Request) -> Response:
        _check_open(self.client)
        attempt = 0
        while True:
            try:
                raw = self.client.send(_build(self.client, self.base_url, request))
            except SEND_ERRORS as error:
                delay = next_delay(attempt, self.max_retries, request, error=error)
                if delay is None:
                    _fail(error)
            else:
                response = _response(raw)
                delay = next_delay(attempt, self.max_retries, request, response=response)
                if delay is None:
                    return response
            self.sleep(delay)
            attempt += 1


class AsyncDriver:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        max_retries: int,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.max_retries = max_retries
        self.sleep = sleep
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, call: Call[T]) -> T:
        try:
            step = next(call)
            while True:
                try:
                    outcome = await self._carry_out(step)
                except DispatchError as error:
                    step = call.throw(error)
                else:
                    step = call.send(outcome)
        except StopIteration as done:
            result: T = done.value
            return result

    async def _carry_out(self, step: Step) -> Any:
        if isinstance(step, Exclusive):
            lock = self._locks.get(step.name)
            if lock is None:
                lock = self._locks[step.name] = asyncio.Lock()
            async with lock:
                return await self.run(step.call)
        return await self.send(step)

    async def send(self, request: Request) -> Response:
        _check_open(self.client)
        attempt = 0
        while True:
            try:
                raw = await self.client.send(_build(self.client, self.base_url, request))
            except SEND_ERRORS as error:
                delay = next_delay(attempt, self.max_retries, request, error=error)
                if delay is None:
                    _fail(error)
            else:
                response = _response(raw)
                delay = next_delay(attempt, self.max_retries, request, response=response)
                if delay is None:
                    return response
            await self.sleep(delay)
            attempt += 1
