"""Per-request options, and how they merge with the client's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import attrs

from dispatch_client._core import check_seconds, layered
from dispatch_client._errors import InvalidArgumentError


class WaitOptions(TypedDict, total=False):
    """Options of one wait call, given as keyword arguments: `RequestOptions` without
    `timeout` (a wait's own `timeout=` is how long to wait; its HTTP requests derive their
    timeouts from it) and without `idempotency_key` (a wait only reads).

    Keys:
        max_retries: How often to retry a failed request of this call (see docs: Retries).
        extra_headers: HTTP headers to add to each request of this call.
    """

    max_retries: int
    extra_headers: Mapping[str, str]


class RequestOptions(WaitOptions, total=False):
    """Options of one call, given as keyword arguments: `d.inboxes.create(timeout=5)`.

    Keys:
        timeout: Seconds for each HTTP request of this call (connect, and each read or write).
        max_retries: How often to retry a failed request of this call (see docs: Retries).
        extra_headers: HTTP headers to add to each request of this call.
        idempotency_key: The `Idempotency-Key` header of this call's POST requests; by
            default one is generated for each call and reused by its retries.
    """

    timeout: float
    idempotency_key: str


@attrs.frozen(kw_only=True)
class CallOptions:
    """The options one call runs with: the client's defaults, overridden by the call's own."""

    timeout: float | None  # None: the httpx client's own timeout
    max_retries: int
    extra_headers: Mapping[str, str] = attrs.field(factory=dict)
    idempotency_key: str | None = None  # None: one is generated for each call

    def merged(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> CallOptions:
        """These options with those given (None: keep); headers are added to the defaults."""
        return CallOptions(
            timeout=self.timeout if timeout is None else check_timeout(timeout),
            max_retries=self.max_retries if max_retries is None else check_retries(max_retries),
            extra_headers=layered(self.extra_headers, _headers(extra_headers or {})),
            idempotency_key=(
                self.idempotency_key if idempotency_key is None else _key(idempotency_key)
            ),
        )


# The keyword arguments each kind of method accepts as options.
REQUEST_OPTION_NAMES: frozenset[str] = RequestOptions.__optional_keys__
WAIT_OPTION_NAMES: frozenset[str] = WaitOptions.__optional_keys__


def call_options(
    defaults: CallOptions,
    options: RequestOptions | WaitOptions,
    accepted: frozenset[str] = REQUEST_OPTION_NAMES,
) -> CallOptions:
    """The options a call runs with: `defaults` overridden by the call's `**options`."""
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"unexpected keyword argument {unknown[0]!r}; the options here are "
            + ", ".join(sorted(accepted))
        )
    return defaults.merged(**options)


def check_timeout(timeout: float) -> float:
    return check_seconds(timeout, "timeout", allow_zero=False)


def check_retries(max_retries: int) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidArgumentError(
            f"max_retries must be an integer, 0 or more, got {max_retries!r}", param="max_retries"
        )
    return max_retries


def _headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    if not isinstance(headers, Mapping) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
    ):
        raise InvalidArgumentError(
            "extra_headers must map header names to values, both strings", param="extra_headers"
        )
    return headers


def _key(key: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgumentError(
            f"idempotency_key must be a non-empty string, got {key!r}", param="idempotency_key"
        )
    return key
