"""Errors raised by the SDK. Every one is a DispatchError."""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
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


class IncompleteDownloadError(DispatchError):
    """A download ended before all of its content came (the message was deleted meanwhile,
    or the connection broke): `received` bytes of `expected`. Nothing is saved."""

    def __init__(self, message: str, *, received: int, expected: int) -> None:
        super().__init__(message)
        self.received = received
        self.expected = expected


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


class AutopayError(DispatchError):
    """Autopay could not pay or follow a payment: bad arguments, what the chain answered, or
    the server refusing it. `tx_hash` is set once a transaction was sent: it is on chain, and
    the next autopay finds and confirms it (never pay it again by hand)."""

    def __init__(self, message: str, *, tx_hash: str | None = None) -> None:
        super().__init__(message if tx_hash is None else f"{message} (transaction {tx_hash})")
        self.tx_hash = tx_hash


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
    """402: the workspace needs an upgrade for this (e.g. a second inbox).

    `upgrade` is the server's offer (the product, its prices, the checkout and quote
    routes) and `accepts` its x402 payment requirements, a ready quote per chain.
    """

    @property
    def upgrade(self) -> dict[str, Any]:
        found = self.body.get("upgrade") if isinstance(self.body, dict) else None
        return found if isinstance(found, dict) else {}

    @property
    def accepts(self) -> list[dict[str, Any]]:
        found = self.body.get("accepts") if isinstance(self.body, dict) else None
        return [entry for entry in found if isinstance(entry, dict)] if found else []


class PermissionDeniedError(APIStatusError):
    """403: this kind of key cannot do this."""


class NotFoundError(APIStatusError):
    """404: no such resource, or it is outside the key's scope."""


class ConflictError(APIStatusError):
    """409: e.g. the inbox address is taken."""


class IdempotencyConflictError(ConflictError):
    """409 `idempotency_key_reused` or `idempotency_key_in_use`: the call's Idempotency-Key.

    `idempotency_key_reused`: the key was used in the last 24 hours for another request (give
    each new request its own key). `idempotency_key_in_use`: a request with this key is still
    being answered, or its answer was lost when the server stopped; the SDK retries that one
    by itself, so you see it only once retries ran out.
    """


class PayloadTooLargeError(APIStatusError):
    """413."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RecipientSuppressedError(UnprocessableEntityError):
    """422 `recipient_suppressed`: the send names recipients the workspace may no longer send
    to, after a permanent bounce or a complaint; `message` lists them.

    Nothing was sent or counted. `suppressions.list()` shows them and
    `suppressions.delete(address)` lifts one.
    """


class RecipientBlockedError(UnprocessableEntityError):
    """422 `recipient_blocked`: the send names recipients the send lists refuse (a block
    entry matches, or allow entries exist and none matches); `param` names the field,
    `message` lists them.

    Nothing was sent or counted. `lists.list(direction="send")` shows the entries.
    """


class RateLimitError(APIStatusError):
    """429: rate limited or over quota.

    `retry_after` is the server's `Retry-After` in seconds from now (0 if it is past), or
    None when the answer has none.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        body: object,
        request_id: str | None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            code=code,
            body=body,
            request_id=request_id,
            param=param,
        )
        self.retry_after = retry_after


class QuotaExceededError(RateLimitError):
    """429 `quota_exceeded`: a daily quota of the workspace is used up until 00:00 UTC.

    `quota` names it: "daily_sends" (sends a day) or "daily_recipients" (distinct
    recipients a day). `retry_after` is the seconds until it resets. The SDK does not wait
    that long for you: a `Retry-After` over 60 s is raised at once, not retried.
    """

    @property
    def quota(self) -> str | None:
        """The quota used up ("daily_sends" or "daily_recipients"): the error's `param`."""
        return self.param


class EventsExpiredError(APIStatusError):
    """410 `events_expired`: an event stream was resumed from a point older than the events
    the server keeps (DISPATCH_EVENT_RETENTION_DAYS), so some that followed it are gone.

    Resuming cannot make up for them: list the current state again (messages, sent mail),
    then watch from the newest event (`d.events.watch()` without `after`).
    """


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


# Codes with a class of their own, within the class of their status.
_BY_CODE: dict[str, type[APIStatusError]] = {
    "idempotency_key_reused": IdempotencyConflictError,
    "idempotency_key_in_use": IdempotencyConflictError,
    "recipient_suppressed": RecipientSuppressedError,
    "recipient_blocked": RecipientBlockedError,
    "quota_exceeded": QuotaExceededError,
    "events_expired": EventsExpiredError,
}


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` (seconds, or an HTTP date) in seconds from now, negative if it is in the
    past; None if there is none or it cannot be read."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None  # "nan", "inf"
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


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
    special = _BY_CODE.get(code)
    if special is not None and issubclass(special, cls):
        cls = special
    if issubclass(cls, RateLimitError):
        after = retry_after_seconds(headers.get("retry-after"))
        return cls(
            message,
            status_code=status,
            code=code,
            body=body,
            request_id=headers.get("x-request-id"),
            param=param,
            retry_after=None if after is None else max(0.0, after),
        )
    return cls(
        message,
        status_code=status,
        code=code,
        body=body,
        request_id=headers.get("x-request-id"),
        param=param,
    )


class WebhookVerificationError(DispatchError):
    """A webhook delivery that `dispatch_client.webhooks.verify` refused: a header missing or
    malformed, no signature made with the secret, or a timestamp outside the tolerance (a
    replayed or delayed delivery). Not an API error: verification is offline."""
