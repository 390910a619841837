"""The error catalogue and the domain's exceptions.

Every error the server reports has a code from `ErrorCode`, with the sentence the API
reference shows for it. Domain code raises `DomainError` subclasses and knows nothing of how
they reach a client: each door maps codes to its own protocol (HTTP statuses in
`dispatch_server.http.errors`, SMTP replies in the SMTP door).
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    """Stable error codes. The API reference's table is checked against this catalogue."""

    description: str

    def __new__(cls, value: str, description: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    INVALID_REQUEST = (
        "invalid_request",
        "malformed JSON, JSON nested too deeply, a number too large to read, NUL characters or "
        'lone UTF-16 surrogates (`"\\ud800"`) in a string, a missing or ill-typed field, a bad '
        "query parameter, a timestamp that is not RFC 3339 with an offset or is out of range; "
        "`param` names the field",
    )
    INVALID_CURSOR = (
        "invalid_cursor",
        "a cursor that this server did not issue, or one from another listing "
        "(a `/messages` cursor on `/artifacts`)",
    )
    UNAUTHORIZED = (
        "unauthorized",
        "missing, malformed, unknown, revoked or expired API key; an operator token (JWT) that is "
        "missing, malformed, expired, or not this server's; bad inbound or ops token",
    )
    UPGRADE_REQUIRED = (
        "upgrade_required",
        "a second inbox while `DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE=true` and the workspace "
        "has no active `multi_inbox` entitlement; the body's `upgrade` and `accepts` (x402 "
        "payment requirements) and the `PAYMENT-REQUIRED` header say how to pay",
    )
    FORBIDDEN = (
        "forbidden",
        "the key kind cannot do this: an inbox key on a workspace route, an account key on an "
        "inbox route of its own workspace; or the workspace is suspended",
    )
    MISSING_PERMISSION = (
        "missing_permission",
        "a restricted inbox key without the permission the route needs (`read`, `wait`, "
        "`send`, `memory` or `organize`); `param` names the permission, and `GET /v1/auth/me` "
        "lists the key's permissions",
    )
    OTP_LEASE_EXPIRED = (
        "otp_lease_expired",
        "confirming a leased OTP (`POST …/otp/{otp_id}/confirm`) after its lease ended, or "
        "with a `lease_id` that is not its current lease (it went back to the pool, and "
        "perhaps to another wait); `param` is `lease_id`",
    )
    NOT_FOUND = (
        "not_found",
        "unknown route; an inbox, message or key outside the key's reach, with either kind of "
        "key (never 403, so ids of other workspaces cannot be probed); a device or file of "
        "another operator, likewise; a file whose bytes are gone from disk; in a batch of "
        "devices, `param` names the item (`devices[2].id`)",
    )
    REQUEST_TIMEOUT = (
        "request_timeout",
        "the request head did not arrive whole within `DISPATCH_HTTP_HEADER_TIMEOUT_SECONDS`, "
        "or its body stalled for `DISPATCH_HTTP_BODY_TIMEOUT_SECONDS` or came slower than "
        "`DISPATCH_HTTP_BODY_MIN_BYTES_PER_SECOND`; the connection is closed",
    )
    HEAD_TOO_LARGE = (
        "head_too_large",
        "the request line and headers are above 16 KiB; the connection is closed",
    )
    UNKNOWN_RECIPIENT = ("unknown_recipient", "inbound: no recipient is an inbox here")
    METHOD_NOT_ALLOWED = ("method_not_allowed", "the route exists, but not with this method")
    ADDRESS_TAKEN = ("address_taken", "the requested inbox address exists")
    IDEMPOTENCY_KEY_REUSED = (
        "idempotency_key_reused",
        "the `Idempotency-Key` was used in the last 24 hours by this API key for a request "
        "with another method, path or body",
    )
    IDEMPOTENCY_KEY_IN_USE = (
        "idempotency_key_in_use",
        "a request with this `Idempotency-Key` is still being answered (a concurrent retry), "
        "or its answer was lost when the server stopped; retry later, or use a new key",
    )
    PAYLOAD_TOO_LARGE = (
        "payload_too_large",
        "a JSON request body above 16 KiB (a send's: its attachments' base64 and bodies, see "
        "`DISPATCH_SEND_MAX_ATTACHMENT_BYTES`), refused on its `Content-Length` before it is "
        "read, else as soon as the upload passes the limit; a send's attachments above "
        "`DISPATCH_SEND_MAX_ATTACHMENT_BYTES` decoded",
    )
    MESSAGE_TOO_LARGE = (
        "message_too_large",
        "inbound message above `DISPATCH_MAX_MESSAGE_BYTES`",
    )
    UNPARSEABLE_MESSAGE = (
        "unparseable_message",
        "inbound mail refused as unreadable: MIME beyond the part-count or nesting caps, an "
        "address header (`From`, `To`, `Cc`) too long or too deeply nested to read, or no "
        "header at all (an empty or blank message)",
    )
    QUOTA_EXCEEDED = (
        "quota_exceeded",
        "a daily quota of the workspace is used up: inbound mail, or for a send `param` names "
        "`daily_sends` or `daily_recipients`; `Retry-After` gives the seconds until it resets "
        "at 00:00 UTC",
    )
    RATE_LIMITED = (
        "rate_limited",
        "too many requests from this client address or API key on a rate-limited route "
        "(signup, webhooks, ...; see docs/rate-limits.md); `Retry-After` gives the seconds "
        "to wait, the `RateLimit-*` headers the limit",
    )
    RATE_LIMITER_UNAVAILABLE = (
        "rate_limiter_unavailable",
        "a rate-limited route while the Redis of `DISPATCH_REDIS_URL` does not answer and "
        "`DISPATCH_RATE_LIMIT_REDIS_FAILURE=closed`; retry shortly",
    )
    RECIPIENT_SUPPRESSED = (
        "recipient_suppressed",
        "a send names recipients the workspace may no longer send to (after a permanent "
        "bounce or a complaint); the message lists them; `DELETE /v1/suppressions/{address}` "
        "lifts one",
    )
    RECIPIENT_BLOCKED = (
        "recipient_blocked",
        "a send names recipients the send lists refuse (a block entry matches, or allow "
        "entries exist and none matches; see docs/lists.md); `param` names the field (`to`, "
        "`cc`, `bcc`), the message lists them; nothing was queued or counted",
    )
    SENDER_BLOCKED = (
        "sender_blocked",
        "inbound: the receive lists of every recipient inbox refuse the sender (SMTP `550 "
        "5.7.1`, see docs/lists.md)",
    )
    LIST_ENTRY_EXISTS = (
        "list_entry_exists",
        "`POST /v1/lists` with a pattern the same scope and direction already list (as allow "
        "or as block); `param` is `pattern`",
    )
    DRAFT_CHANGED = (
        "draft_changed",
        "`PATCH …/drafts/{id}` with a `version` that is not the draft's (it was updated since "
        "it was read: read it again), or a draft updated while it was being sent; `param` is "
        "`version`",
    )
    DOMAIN_EXISTS = (
        "domain_exists",
        "`POST /v1/domains` with a name the workspace has already added; `param` is `name`",
    )
    DOMAIN_TAKEN = (
        "domain_taken",
        "`POST /v1/domains` or its verify with a name another workspace has verified (a name "
        "is verified by one workspace at most); `param` is `name`",
    )
    DOMAIN_NOT_VERIFIED = (
        "domain_not_verified",
        "`POST /v1/inboxes` with a `domain` of the workspace that is still pending: publish "
        "its records and verify it first (`POST /v1/domains/{id}/verify`); `param` is `domain`",
    )
    DOMAIN_IN_USE = (
        "domain_in_use",
        "`DELETE /v1/domains/{id}` while inboxes have addresses at the domain; the message "
        "counts them",
    )
    DOMAIN_CHECK_IN_PROGRESS = (
        "domain_check_in_progress",
        "`POST /v1/domains/{id}/verify` while another check of the workspace's domains is "
        "running (one at a time per workspace): retry once it answered",
    )
    DOMAIN_PROVIDER_UNAVAILABLE = (
        "domain_provider_unavailable",
        "`POST /v1/domains/{id}/verify` with the `ses` provider when SES did not answer the "
        "Easy DKIM request for the verified domain; the verification is stored, verify again",
    )
    SNS_WEBHOOK_DISABLED = (
        "sns_webhook_disabled",
        "`POST /v1/webhooks/sns` while `DISPATCH_SNS_TOPIC_ARNS` is not set",
    )
    SNS_CERTIFICATE_UNAVAILABLE = (
        "sns_certificate_unavailable",
        "the signing certificate of an SNS message, or the SubscribeURL of a subscription "
        "confirmation, could not be fetched; nothing was changed, and SNS delivers again",
    )
    SNS_MESSAGE_REFUSED = (
        "sns_message_refused",
        "an SNS message that is malformed, unsigned, badly signed, signed by a certificate "
        "from anywhere but `https://sns.<region>.amazonaws.com/SimpleNotificationService-"
        "<hex>.pem`, or from a topic or account not allowed; nothing was changed",
    )
    INBOUND_OBJECT_UNAVAILABLE = (
        "inbound_object_unavailable",
        "an SES receipt notification through SNS names mail in S3 that could not be read "
        "(missing, access denied, S3 not answering); nothing was stored, and SNS delivers "
        "again",
    )
    INTERNAL_ERROR = (
        "internal_error",
        "a bug; the server log has the details under the response's `x-request-id`",
    )
    INBOUND_WEBHOOK_DISABLED = (
        "inbound_webhook_disabled",
        "`DISPATCH_INBOUND_TOKEN` is not set",
    )
    OPS_DISABLED = ("ops_disabled", "`GET /v1/ops/status` while `DISPATCH_OPS_TOKEN` is not set")
    NOT_READY = ("not_ready", "`/ready` when the database does not answer")
    INVALID_CREDENTIALS = (
        "invalid_credentials",
        "`POST /auth/login` with an unknown email or a wrong password (one answer for both)",
    )
    EMAIL_TAKEN = ("email_taken", "`POST /auth/signup` with an email that has an account")
    SIGNUP_CLOSED = (
        "signup_closed",
        "`POST /auth/signup` while `DISPATCH_OPERATOR_SIGNUP=closed`, or `POST "
        "/v1/agent/signup` while `DISPATCH_AGENT_SIGNUP=closed`",
    )
    INVITE_CODE_INVALID = (
        "invite_code_invalid",
        "a signup gated by invite (`DISPATCH_OPERATOR_SIGNUP` or `DISPATCH_AGENT_SIGNUP` "
        "`invite`) without an invite code, or with one that is unknown, revoked, expired or "
        "used up; `param` is `invite_code`",
    )
    VERIFICATION_CODE_INVALID = (
        "verification_code_invalid",
        "`POST /auth/verify-email` with a code that is wrong, expired or already used, or "
        "when no code was sent; `param` is `code`",
    )
    VERIFICATION_ATTEMPTS_EXCEEDED = (
        "verification_attempts_exceeded",
        "the verification code had `DISPATCH_VERIFICATION_MAX_ATTEMPTS` wrong guesses and is "
        "spent; ask for a new one (`POST /auth/verify-email/resend`); or the operator made "
        "three times that many wrong guesses over all its codes in the last hour: wait",
    )
    CLAIM_TOKEN_INVALID = (
        "claim_token_invalid",
        "`POST /v1/agent/claim` with a claim token this server did not mint, or one minted by "
        "a key revoked since; `param` is `claim_token`",
    )
    CLAIM_TOKEN_EXPIRED = (
        "claim_token_expired",
        "the claim token is older than `DISPATCH_CLAIM_TOKEN_TTL_SECONDS`; mint another",
    )
    CLAIM_TOKEN_USED = (
        "claim_token_used",
        "the claim token was already used for a claim (tokens are single-use)",
    )
    CLAIM_EMAIL_MISMATCH = (
        "claim_email_mismatch",
        "`claim_email` is not the address of the inbox the claim token was minted for (the "
        "token of another agent or inbox); `param` is `claim_email`",
    )
    CLAIM_KEY_INVALID = (
        "claim_key_invalid",
        "a claim by `api_key` with a key that is malformed, unknown or revoked; `param` is "
        "`api_key`",
    )
    AGENT_ALREADY_CLAIMED = (
        "agent_already_claimed",
        "the agent was claimed before, by this operator or another (an agent is claimed once)",
    )
    WALLET_SIGNATURE_INVALID = (
        "wallet_signature_invalid",
        "a wallet claim whose `wallet_signature` is missing, malformed, or not made by the "
        "wallet the claim token was bound to over the token's `wallet_message`",
    )
    WALLET_UNSUPPORTED = (
        "wallet_unsupported",
        "a wallet claim or a wallet-bound claim token on a server installed without the "
        "`wallet` extra (`pip install 'dispatch-client[server,wallet]'`)",
    )
    FILE_TOO_LARGE = (
        "file_too_large",
        "an upload above `DISPATCH_MAX_UPLOAD_BYTES`, refused on its `Content-Length` before "
        "it is read, else as soon as it passes the limit",
    )
    UNSUPPORTED_MEDIA_TYPE = (
        "unsupported_media_type",
        "an upload whose `Content-Type` is missing or not one of `DISPATCH_UPLOAD_CONTENT_TYPES`",
    )
    FILE_CONTENT_MISMATCH = (
        "file_content_mismatch",
        "an upload whose bytes are not the type its `Content-Type` names (checked by their "
        "magic numbers), or an empty one",
    )
    DEVICE_LIMIT_REACHED = (
        "device_limit_reached",
        "`POST /device` when the operator has 100 devices; delete one first",
    )
    QUOTE_INVALID = (
        "quote_invalid",
        "`POST /v1/billing/payments/confirm` with a `quote_id` this server did not issue, or "
        "one of another workspace; `param` is `quote_id`",
    )
    QUOTE_EXPIRED = (
        "quote_expired",
        "the transaction was mined after the quote's `expires_at`; ask for a new quote",
    )
    CHAIN_UNSUPPORTED = (
        "chain_unsupported",
        "an x402 quote or confirmation for a chain this server has not configured (see "
        "`DISPATCH_X402_EVM_*` and `DISPATCH_X402_SOLANA_*`); `param` is `chain`",
    )
    CHAIN_UNAVAILABLE = (
        "chain_unavailable",
        "the chain's JSON-RPC endpoint did not answer or answered with an error; nothing was "
        "recorded, retry",
    )
    TRANSACTION_NOT_FOUND = (
        "transaction_not_found",
        "the chain does not know `tx_hash` (yet): it may still be propagating; retry",
    )
    TRANSACTION_UNCONFIRMED = (
        "transaction_unconfirmed",
        "the transaction is mined but has fewer than `DISPATCH_X402_EVM_CONFIRMATIONS` "
        "confirmations (EVM) or is not finalized (Solana); retry after `Retry-After`",
    )
    TRANSACTION_FAILED = (
        "transaction_failed",
        "the transaction reverted (EVM receipt status 0) or failed (Solana `meta.err`); it "
        "moved no tokens",
    )
    PAYMENT_WRONG_TOKEN = (
        "payment_wrong_token",
        "the transaction moved no tokens of the quoted contract (EVM) or mint (Solana)",
    )
    PAYMENT_WRONG_RECIPIENT = (
        "payment_wrong_recipient",
        "the quoted token was moved, but not to the quote's `recipient`",
    )
    PAYMENT_UNDERPAID = (
        "payment_underpaid",
        "the recipient received less than the quote's `amount`",
    )
    PAYMENT_REFERENCE_MISSING = (
        "payment_reference_missing",
        "the transaction does not carry the quote's `reference` (EVM: the 32 bytes after the "
        "`transfer` arguments; Solana: a read-only account of the transfer)",
    )
    PAYMENT_WRONG_PAYER = (
        "payment_wrong_payer",
        "`payer` was given and the transaction's sender is another address",
    )
    TRANSACTION_ALREADY_USED = (
        "transaction_already_used",
        "the transaction was already used to confirm another quote (a transaction pays once)",
    )
    STRIPE_CONFIRMATION_REFUSED = (
        "stripe_confirmation_refused",
        "`POST /v1/billing/payments/confirm` for a Stripe payment: Stripe payments are "
        "granted by the signed webhook only",
    )
    BILLING_UNAVAILABLE = (
        "billing_unavailable",
        "a Stripe route while `STRIPE_SECRET_KEY` (checkout) or `STRIPE_WEBHOOK_SECRET` "
        "(webhook) is not set, or Stripe did not answer",
    )
    STRIPE_SIGNATURE_INVALID = (
        "stripe_signature_invalid",
        "`POST /v1/webhooks/stripe` whose `Stripe-Signature` is missing, malformed, outside "
        "the tolerance, or made with none of the configured secrets; nothing was recorded",
    )
    PRODUCT_UNKNOWN = (
        "product_unknown",
        "a checkout or quote for a product that is not in the catalogue; `param` is `product`",
    )
    EVENTS_EXPIRED = (
        "events_expired",
        "an event stream resumed (`Last-Event-ID` or `after`) from an id whose next events "
        "were purged (`DISPATCH_EVENT_RETENTION_DAYS`); list the current state again, then "
        "follow the stream from its latest id; `param` is `after`",
    )
    SHUTTING_DOWN = (
        "shutting_down",
        "the server stopped while the request was still coming in or being answered; retry "
        "it (the SDK does)",
    )


class DomainError(Exception):
    """An error to report to the client, with a code from the catalogue; `param` names the
    request field at fault, when there is one."""

    code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param


class InvalidInput(DomainError):
    code = ErrorCode.INVALID_REQUEST


class InvalidCursor(InvalidInput):
    code = ErrorCode.INVALID_CURSOR


class Unauthorized(DomainError):
    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str = "a valid API key is required") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class MissingPermission(DomainError):
    """A 403 for a key without the permission a route needs; `param` is the permission."""

    code = ErrorCode.MISSING_PERMISSION

    def __init__(self, permission: str) -> None:
        super().__init__(f"this key does not have the {permission!r} permission", param=permission)


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, what: str = "resource") -> None:
        super().__init__(f"{what} not found")


class Conflict(DomainError):
    code = ErrorCode.ADDRESS_TAKEN


class UpgradeRequired(DomainError):
    """A paid product is needed; `offer` says how to pay (merged into the error's JSON
    body), `headers` are added to the answer (x402's `PAYMENT-REQUIRED`)."""

    code = ErrorCode.UPGRADE_REQUIRED

    def __init__(
        self,
        message: str,
        *,
        offer: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.offer = offer or {}
        self.headers = headers or {}


class TooLarge(DomainError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class QuotaExceeded(DomainError):
    code = ErrorCode.QUOTA_EXCEEDED

    def __init__(
        self, message: str, *, param: str | None = None, retry_after_seconds: int | None = None
    ) -> None:
        super().__init__(message, param=param)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """Something the request needs is switched off or not answering."""

    code = ErrorCode.NOT_READY


class PaymentRefused(DomainError):
    """A payment that cannot be accepted; the code says which check it failed."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        param: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.retry_after_seconds = retry_after_seconds
