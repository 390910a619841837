"""Carrying calls over HTTP: the sync and async drivers and their one retry policy."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import anyio
import httpx

from dispatch_client import __version__
from dispatch_client._calls import Call, Request, Response
from dispatch_client._errors import APIConnectionError, APITimeoutError

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BASE_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 30.0
USER_AGENT = f"dispatch-python/{__version__}"


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
        if after is not None:
            return min(after, MAX_RETRY_AFTER)
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
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


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


def _wrap(error: httpx.TransportError) -> APIConnectionError:
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"request timed out: {error}")
    return APIConnectionError(f"could not reach the Dispatch server: {error}")


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

    def run(self, call: Call[T]) -> T:
        try:
            request = next(call)
            while True:
                request = call.send(self.send(request))
        except StopIteration as done:
            result: T = done.value
            return result

    def send(self, request: Request) -> Response:
        attempt = 0
        while True:
            try:
                raw = self.client.send(_build(self.client, self.base_url, request))
            except httpx.TransportError as error:
                delay = retry_delay(attempt, self.max_retries, request, error=error)
                if delay is None:
                    raise _wrap(error) from error
            else:
                response = Response(
                    status=raw.status_code, headers=raw.headers, content=raw.content
                )
                delay = retry_delay(attempt, self.max_retries, request, response=response)
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
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.max_retries = max_retries
        self.sleep = sleep

    async def run(self, call: Call[T]) -> T:
        try:
            request = next(call)
            while True:
                request = call.send(await self.send(request))
        except StopIteration as done:
            result: T = done.value
            return result

    async def send(self, request: Request) -> Response:
        attempt = 0
        while True:
            try:
                raw = await self.client.send(_build(self.client, self.base_url, request))
            except httpx.TransportError as error:
                delay = retry_delay(attempt, self.max_retries, request, error=error)
                if delay is None:
                    raise _wrap(error) from error
            else:
                response = Response(
                    status=raw.status_code, headers=raw.headers, content=raw.content
                )
                delay = retry_delay(attempt, self.max_retries, request, response=response)
                if delay is None:
                    return response
            await self.sleep(delay)
            attempt += 1
