"""The CLI's one rule for failures: which exit status, which one-line message, which hint.

| status | meaning |
|---|---|
| 0 | done |
| 1 | an error (the server refused, could not be reached, ...) |
| 2 | the command was used wrongly (unknown option, bad value) |
| 3 | authentication: no key, or the key was refused (401) or may not do this (403) |
| 4 | a wait timed out (`mail code`, `mail wait`) |
| 5 | not found: no such inbox, message or memory key |
| 6 | payment required: the workspace needs an upgrade (402) |
| 130 | interrupted (Ctrl-C) |
"""

from __future__ import annotations

import attrs

from dispatch_client._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    AutopayError,
    DispatchError,
    InvalidArgumentError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    WaitTimeoutError,
)
from dispatch_client.cli._config import ConfigError
from dispatch_client.cli._session import NoKey, NotFound, UsageProblem

OK = 0
ERROR = 1
USAGE = 2
AUTH = 3
TIMEOUT = 4
NOT_FOUND = 5
PAYMENT_REQUIRED = 6
INTERRUPTED = 130


@attrs.frozen
class Failure:
    status: int
    message: str
    hint: str | None = None


def failure_of(error: BaseException, *, base_url: str) -> Failure:
    """How the CLI reports `error`."""
    if isinstance(error, KeyboardInterrupt):
        return Failure(INTERRUPTED, "interrupted")
    if isinstance(error, WaitTimeoutError):
        return Failure(TIMEOUT, str(error), "wait longer with --timeout")
    if isinstance(error, UsageProblem | InvalidArgumentError):
        return Failure(USAGE, str(error))
    if isinstance(error, NoKey):
        return Failure(AUTH, str(error))
    if isinstance(error, AuthenticationError):
        return Failure(
            AUTH,
            f"the key was refused: {error.message}",
            "check it with `dispatch auth status`; store another with `dispatch auth login`",
        )
    if isinstance(error, PermissionDeniedError):
        return Failure(
            AUTH,
            f"not allowed with this key: {error.message}",
            "an inbox key reaches only its inbox; workspace commands need the account key",
        )
    if isinstance(error, NotFound):
        return Failure(NOT_FOUND, str(error))
    if isinstance(error, NotFoundError):
        return Failure(NOT_FOUND, f"not found: {error.message}", "list what exists with `list`")
    if isinstance(error, PaymentRequiredError):
        return Failure(
            PAYMENT_REQUIRED,
            f"payment required: {error.message}",
            "pay by card: `dispatch billing checkout`; on chain, from this shell: "
            "`dispatch inbox create --max-amount 10 --evm-key-env VAR` (see `--help`)",
        )
    if isinstance(error, AutopayError):
        hint = f"the transaction {error.tx_hash} was sent" if error.tx_hash else None
        return Failure(ERROR, f"payment failed: {error}", hint)
    if isinstance(error, RateLimitError):
        after = f" in {error.retry_after:.0f} s" if error.retry_after is not None else " later"
        return Failure(ERROR, f"rate limited: {error.message}", f"try again{after}")
    if isinstance(error, APIStatusError):
        field = f" ({error.param})" if error.param else ""
        request = f"; request id {error.request_id}" if error.request_id else ""
        return Failure(ERROR, f"{error.status_code} {error.code}{field}: {error.message}{request}")
    if isinstance(error, APIConnectionError):
        return Failure(
            ERROR,
            f"cannot reach the server at {base_url}: {error}",
            "is it running? set the address with --base-url or DISPATCH_BASE_URL",
        )
    if isinstance(error, ConfigError | DispatchError):
        return Failure(ERROR, str(error))
    return Failure(
        ERROR, f"unexpected {type(error).__name__}: {error}", "rerun with --debug for the trace"
    )
