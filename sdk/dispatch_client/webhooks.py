"""Verifying webhook deliveries, offline: `verify(body, headers, secret)`.

Dispatch signs deliveries as the Standard Webhooks specification says: `webhook-signature` is
one or more space-separated `v1,<base64>` signatures, each an HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded part of the
endpoint's `whsec_` secret (two during the day after a secret rotation). Verify the raw body
as received, before parsing it: re-encoded JSON does not verify.

    from dispatch_client import webhooks

    event = webhooks.verify(request.body, request.headers, secret)
    if seen(event_id := request.headers["webhook-id"]): ...  # the same on every retry
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from dispatch_client._errors import WebhookVerificationError

__all__ = ["DEFAULT_TOLERANCE", "WebhookVerificationError", "sign", "verify"]

DEFAULT_TOLERANCE = 300  # seconds a timestamp may be off, either way
_PREFIX = "whsec_"


def _key(secret: str) -> bytes:
    if not isinstance(secret, str) or not secret.strip():
        raise WebhookVerificationError("the webhook secret is empty")
    raw = secret.strip().removeprefix(_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(
            "the webhook secret is malformed (it looks like whsec_<base64>)"
        ) from None
    if not key:
        raise WebhookVerificationError("the webhook secret is empty")
    return key


def sign(payload: bytes | str, *, webhook_id: str, timestamp: int, secret: str) -> str:
    """The `v1,<base64>` signature of a delivery, as the server makes it (for tests of a
    receiver)."""
    body = payload if isinstance(payload, str) else payload.decode()
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """The event a webhook delivery carries, once its signature and timestamp check out.

    Offline: nothing is asked of the API. The headers are read in any case; any one of the
    signatures in `webhook-signature` made with `secret` verifies.

    Args:
        payload: The request body exactly as received (bytes, or text decoded as UTF-8).
        headers: The request's headers (`webhook-id`, `webhook-timestamp`,
            `webhook-signature`), any mapping.
        secret: The endpoint's `whsec_...` secret.
        tolerance: How many seconds `webhook-timestamp` may be from now, either way.

    Returns:
        The event as a dict: `id`, `type`, `created_at`, `inbox_id`, `data`.

    Raises:
        WebhookVerificationError: a header is missing or malformed, no signature matches,
            the timestamp is older or newer than `tolerance`, or the body is not JSON.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    webhook_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    missing = [
        name
        for name, value in (
            ("webhook-id", webhook_id),
            ("webhook-timestamp", stamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing:
        raise WebhookVerificationError(f"missing header: {', '.join(missing)}")
    assert webhook_id is not None and stamp is not None and signatures is not None
    if not (stamp.strip().isascii() and stamp.strip().isdigit()) or len(stamp.strip()) > 12:
        raise WebhookVerificationError("webhook-timestamp is not a Unix time in seconds")
    timestamp = int(stamp.strip())
    now = time.time()
    if timestamp < now - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old (a replayed delivery?)")
    if timestamp > now + tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")
    body = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
    expected = sign(body, webhook_id=webhook_id, timestamp=timestamp, secret=secret)
    expected_digest = base64.b64decode(expected[3:])
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(digest, expected_digest):
            break
    else:
        raise WebhookVerificationError("no signature in webhook-signature matches the secret")
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return event
