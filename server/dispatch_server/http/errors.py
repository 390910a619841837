"""Domain errors as HTTP answers: the status of every error code, and the exception handlers
that render `{"error": {"code", "message", "param"?}}`."""

from __future__ import annotations

import logging
from typing import Any

import attrs
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch_server.auth.api_keys import KeyRefused
from dispatch_server.auth.operators import OperatorRefused
from dispatch_server.core.errors import (
    DomainError,
    ErrorCode,
    PaymentRefused,
    QuotaExceeded,
    UpgradeRequired,
)
from dispatch_server.http import rate_limits
from dispatch_server.http.context import request_id
from dispatch_server.http.shapes import field, to_json
from dispatch_server.ratelimit.limiter import RateLimited

log = logging.getLogger("dispatch_server.http")

STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_CURSOR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.UPGRADE_REQUIRED: 402,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.MISSING_PERMISSION: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_RECIPIENT: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.ADDRESS_TAKEN: 409,
    ErrorCode.OTP_LEASE_EXPIRED: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 409,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.HEAD_TOO_LARGE: 431,
    ErrorCode.MESSAGE_TOO_LARGE: 413,
    ErrorCode.UNPARSEABLE_MESSAGE: 422,
    ErrorCode.RECIPIENT_SUPPRESSED: 422,
    ErrorCode.RECIPIENT_BLOCKED: 422,
    ErrorCode.SENDER_BLOCKED: 403,
    ErrorCode.LIST_ENTRY_EXISTS: 409,
    ErrorCode.DRAFT_CHANGED: 409,
    ErrorCode.DOMAIN_EXISTS: 409,
    ErrorCode.DOMAIN_TAKEN: 409,
    ErrorCode.DOMAIN_NOT_VERIFIED: 409,
    ErrorCode.DOMAIN_IN_USE: 409,
    ErrorCode.DOMAIN_CHECK_IN_PROGRESS: 409,
    ErrorCode.DOMAIN_PROVIDER_UNAVAILABLE: 503,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.RATE_LIMITER_UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.INBOUND_WEBHOOK_DISABLED: 503,
    ErrorCode.NOT_READY: 503,
    ErrorCode.OPS_DISABLED: 503,
    ErrorCode.SNS_WEBHOOK_DISABLED: 503,
    ErrorCode.SNS_CERTIFICATE_UNAVAILABLE: 503,
    ErrorCode.SNS_MESSAGE_REFUSED: 403,
    ErrorCode.INBOUND_OBJECT_UNAVAILABLE: 503,
    ErrorCode.SHUTTING_DOWN: 503,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.SIGNUP_CLOSED: 403,
    ErrorCode.INVITE_CODE_INVALID: 403,
    ErrorCode.VERIFICATION_CODE_INVALID: 400,
    ErrorCode.VERIFICATION_ATTEMPTS_EXCEEDED: 429,
    ErrorCode.CLAIM_TOKEN_INVALID: 400,
    ErrorCode.CLAIM_TOKEN_EXPIRED: 410,
    ErrorCode.CLAIM_TOKEN_USED: 409,
    ErrorCode.CLAIM_EMAIL_MISMATCH: 400,
    ErrorCode.CLAIM_KEY_INVALID: 400,
    ErrorCode.AGENT_ALREADY_CLAIMED: 409,
    ErrorCode.WALLET_SIGNATURE_INVALID: 400,
    ErrorCode.WALLET_UNSUPPORTED: 501,
    ErrorCode.FILE_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.FILE_CONTENT_MISMATCH: 422,
    ErrorCode.DEVICE_LIMIT_REACHED: 409,
    ErrorCode.QUOTE_INVALID: 400,
    ErrorCode.QUOTE_EXPIRED: 410,
    ErrorCode.CHAIN_UNSUPPORTED: 400,
    ErrorCode.CHAIN_UNAVAILABLE: 503,
    ErrorCode.TRANSACTION_NOT_FOUND: 404,
    ErrorCode.TRANSACTION_UNCONFIRMED: 409,
    ErrorCode.TRANSACTION_FAILED: 422,
    ErrorCode.PAYMENT_WRONG_TOKEN: 422,
    ErrorCode.PAYMENT_WRONG_RECIPIENT: 422,
    ErrorCode.PAYMENT_UNDERPAID: 422,
    ErrorCode.PAYMENT_REFERENCE_MISSING: 422,
    ErrorCode.PAYMENT_WRONG_PAYER: 422,
    ErrorCode.TRANSACTION_ALREADY_USED: 409,
    ErrorCode.STRIPE_CONFIRMATION_REFUSED: 400,
    ErrorCode.BILLING_UNAVAILABLE: 503,
    ErrorCode.STRIPE_SIGNATURE_INVALID: 400,
    ErrorCode.PRODUCT_UNKNOWN: 400,
    ErrorCode.EVENTS_EXPIRED: 410,
}

# Errors the framework raises itself (no route, wrong method); any other would be a bug.
_FRAMEWORK_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}
FRAMEWORK_FALLBACK_CODE = "http_error"


@attrs.frozen(kw_only=True)
class ErrorDetail:
    code: str = field(description="stable; see the table of error codes")
    message: str = field(description="for people; may change")
    param: str | None = field(
        default=None, description="the request field at fault, when there is one"
    )


@attrs.frozen(kw_only=True)
class Error:
    """Every 4xx/5xx answer."""

    error: ErrorDetail


def error_body(code: str, message: str, param: str | None = None) -> Any:
    return to_json(Error(error=ErrorDetail(code=code, message=message, param=param)))


def error_response(error: DomainError) -> JSONResponse:
    # A request whose body came too slowly is not read to its end: the connection cannot
    # carry another request.
    headers = {"connection": "close"} if error.code is ErrorCode.REQUEST_TIMEOUT else {}
    if isinstance(error, QuotaExceeded | PaymentRefused) and error.retry_after_seconds is not None:
        headers["retry-after"] = str(error.retry_after_seconds)
    if isinstance(error, RateLimited):
        headers.update(rate_limits.headers(error.decision))
    body = error_body(error.code, error.message, error.param)
    if isinstance(error, UpgradeRequired):
        body.update(error.offer)
        headers.update(error.headers)
    return JSONResponse(
        body,
        status_code=STATUS[error.code],
        headers=headers or None,
    )


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if isinstance(exc, KeyRefused | OperatorRefused):  # the answer does not say why; the log does
        log.info(
            "401 on %s %s (request %s): %s",
            request.method,
            request.url.path,
            request_id(request),
            exc.reason,
        )
    # An error on a rate-limited route still says how much of the limit is left.
    return rate_limits.add_headers(request, error_response(exc))


async def framework_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _FRAMEWORK_CODES.get(exc.status_code, FRAMEWORK_FALLBACK_CODE)
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    rid = request_id(request)
    log.exception(
        "unhandled error on %s %s (request %s)",
        request.method,
        request.url.path,
        rid,
        exc_info=exc,
    )
    # Starlette answers this outside the middleware stack, so RequestId cannot add the header.
    return JSONResponse(
        error_body(ErrorCode.INTERNAL_ERROR, "internal server error"),
        status_code=500,
        headers={"x-request-id": rid} if rid else None,
    )


HANDLERS = {
    DomainError: domain_error,
    HTTPException: framework_error,
    Exception: unexpected_error,
}
