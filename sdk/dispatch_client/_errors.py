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
    return cls.__new__(cls, *args)


class APIConnectionError(DispatchError):
    """The server could not be reached, or the connection broke."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class WaitTimeoutError(DispatchError, TimeoutError):
    """A wait_for_* call ran out of time without a matching message. Not an API error."""


class APIStatusError(DispatchError):
    """The server answered with a status the call does not accept: 4xx, 5xx or a redirect."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        body: Any,
        request_id: str | None,
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.body = body
        self.request_id = request_id


class BadRequestError(APIStatusError):
    """400: the request was malformed (see .code and .message)."""


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
    """Build the error for a 3xx/4xx/5xx answer from its `{"error": {"code", "message"}}` body."""
    body: Any
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", "replace")
    code, message = "http_error", f"HTTP {status}"
    if 300 <= status < 400:
        code = "redirect"
        message = (
            f"the server redirected to {headers.get('location')!r}; the SDK does not follow "
            "redirects (your API key must not go elsewhere): set base_url to the final address"
        )
    elif isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code", code))
        message = str(body["error"].get("message", message))
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIStatusError)
    return cls(
        message, status_code=status, code=code, body=body, request_id=headers.get("x-request-id")
    )
