"""Errors raised by the SDK. Every one is a DispatchError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class DispatchError(Exception):
    """Base class of every error this SDK raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling calls cls(*args), which keyword-only __init__s refuse;
        # rebuild without __init__ and restore the attributes instead.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[DispatchError], args: tuple[Any, ...]) -> DispatchError:
    error = cls.__new__(cls, *args)
    error.args = args  # OSError's __new__ (TimeoutError's) leaves them out for our __init__s
    return error


class InvalidArgumentError(DispatchError, ValueError):
    """An argument is out of range or of the wrong kind; raised before anything is sent.

    `param` names the argument (e.g. "limit").
    """

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param


class APIConnectionError(DispatchError):
    """The server could not be reached, or the connection broke.

    `method` and `url` say what was tried. The underlying httpx exception is `original` (it is
    not chained, so a traceback shows this error, not the transport's internals).
    """

    def __init__(
        self, message: str, *, method: str, url: str, original: Exception | None = None
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.original = original


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class WaitTimeoutError(DispatchError, TimeoutError):
    """A wait_for_* call ran out of time without a matching message. Not an API error.

    `inbox_id` and `timeout` (seconds) are those of the call; `filters` holds the filters
    given (`from_`, `subject`); `unmatched_count` is how many messages arrived in the window
    the wait looked at (after its cursor, or since its time) that did not match.
    """

    def __init__(
        self,
        message: str,
        *,
        inbox_id: str | None = None,
        timeout: float | None = None,
        filters: Mapping[str, str] | None = None,
        unmatched_count: int = 0,
    ) -> None:
        super().__init__(message)
        self.inbox_id = inbox_id
        self.timeout = timeout
        self.filters = dict(filters or {})
        self.unmatched_count = unmatched_count


class APIStatusError(DispatchError):
    """The server answered with a status the call does not accept: 4xx, 5xx or a redirect.

    `code` and `message` come from the error body, `param` names the request field at fault
    when the server says which, `request_id` is the server's x-request-id (quote it when you
    report a problem), `body` is the whole decoded body.
    """

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        body: object,
        request_id: str | None,
        param: str | None = None,
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.param = param
        self.body = body
        self.request_id = request_id


class BadRequestError(APIStatusError):
    """400: the request was malformed (see .code, .message and .param)."""


class AuthenticationError(APIStatusError):
    """401: missing, malformed, unknown or revoked API key."""


class PaymentRequiredError(APIStatusError):
    """402: the workspace needs an upgrade for this (e.g. a second inbox)."""


class PermissionDeniedError(APIStatusError):
    """403: this kind of key cannot do this."""


class NotFoundError(APIStatusError):
    """404: no such resource, or it is outside the key's scope."""


class ConflictError(APIStatusError):
    """409: e.g. the inbox address is taken."""


class PayloadTooLargeError(APIStatusError):
    """413."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429: rate limited or over quota."""


class InternalServerError(APIStatusError):
    """5xx."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(status: int, content: bytes, headers: Mapping[str, str]) -> APIStatusError:
    """The error for a 3xx/4xx/5xx answer, from its `{"error": {"code", "message", "param"}}`
    body when it has one."""
    body: object
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", "replace")
    code, message, param = "http_error", f"HTTP {status}", None
    if 300 <= status < 400:
        code = "redirect"
        message = (
            f"the server redirected to {headers.get('location')!r}; the SDK does not follow "
            "redirects (your API key must not go elsewhere): set base_url to the final address"
        )
    elif isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code", code))
        message = str(error.get("message", message))
        param = error["param"] if isinstance(error.get("param"), str) else None
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIStatusError)
    return cls(
        message,
        status_code=status,
        code=code,
        body=body,
        request_id=headers.get("x-request-id"),
        param=param,
    )
