"""`dispatch_client.webhooks.verify`, offline, against deliveries signed by an independent
Standard Webhooks implementation (the `standardwebhooks` package): what verifies, and every
way a delivery is refused."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from dispatch_client import DispatchError, WebhookVerificationError, webhooks

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()
BODY = json.dumps({"id": 7, "type": "inbox.created", "data": {"x": "ü"}}, ensure_ascii=False)


def signed(
    body: str = BODY, *, secret: str = SECRET, at: float | None = None, msg_id: str = "evt_w_7"
) -> dict[str, str]:
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=UTC)
    signature = Webhook(secret).sign(msg_id, moment, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def test_a_delivery_signed_by_standard_webhooks_verifies() -> None:
    headers = signed()
    assert webhooks.verify(BODY, headers, SECRET)["type"] == "inbox.created"
    assert webhooks.verify(BODY.encode(), headers, SECRET)["data"] == {"x": "ü"}
    upper = {name.upper(): value for name, value in headers.items()}
    assert webhooks.verify(BODY, upper, SECRET)["id"] == 7


def test_our_signature_verifies_with_standard_webhooks() -> None:
    now = int(time.time())
    signature = webhooks.sign(BODY, webhook_id="evt_a_1", timestamp=now, secret=SECRET)
    headers = {
        "webhook-id": "evt_a_1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature,
    }
    assert Webhook(SECRET).verify(BODY, headers)["id"] == 7


def test_any_of_several_signatures_verifies() -> None:
    mine, other = signed(), signed(secret=OTHER)
    both = {
        **mine,
        "webhook-signature": f"v2,abc {other['webhook-signature']} {mine['webhook-signature']}",
    }
    assert webhooks.verify(BODY, both, SECRET)["id"] == 7
    assert webhooks.verify(BODY, both, OTHER)["id"] == 7


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"webhook-id": ""}, "missing header: webhook-id"),
        ({"webhook-timestamp": ""}, "missing header: webhook-timestamp"),
        ({"webhook-signature": ""}, "missing header: webhook-signature"),
        ({"webhook-timestamp": "soon"}, "not a Unix time"),
        ({"webhook-timestamp": "-5"}, "not a Unix time"),
        ({"webhook-signature": "v1,bm90IGl0"}, "no signature"),
        ({"webhook-signature": "v1,!!!"}, "no signature"),
        ({"webhook-signature": "v2,abc"}, "no signature"),
        ({"webhook-signature": "garbage"}, "no signature"),
        ({"webhook-id": "evt_w_8"}, "no signature"),  # signed for another id
    ],
)
def test_bad_headers_are_refused(change: dict[str, str], match: str) -> None:
    headers = {**signed(), **change}
    with pytest.raises(WebhookVerificationError, match=match):
        webhooks.verify(BODY, headers, SECRET)


def test_a_changed_body_or_another_secret_is_refused() -> None:
    headers = signed()
    with pytest.raises(WebhookVerificationError, match="no signature"):
        webhooks.verify(BODY.replace("7", "8"), headers, SECRET)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        webhooks.verify(BODY, headers, OTHER)


def test_stale_and_future_timestamps_are_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhooks.verify(BODY, signed(at=time.time() - 301), SECRET)
    with pytest.raises(WebhookVerificationError, match="future"):
        webhooks.verify(BODY, signed(at=time.time() + 301), SECRET)
    assert webhooks.verify(BODY, signed(at=time.time() - 1000), SECRET, tolerance=1200)


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_***", "   "])
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(WebhookVerificationError, match="secret"):
        webhooks.verify(BODY, signed(), secret)


def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    for body in ("not json", "[1, 2]"):
        with pytest.raises(WebhookVerificationError, match="JSON"):
            webhooks.verify(body, signed(body), SECRET)


def test_the_error_is_a_dispatch_error() -> None:
    assert issubclass(WebhookVerificationError, DispatchError)
    assert webhooks.WebhookVerificationError is WebhookVerificationError
