"""Stripe checkout sessions against a local server in Stripe's format, webhook signatures in
Stripe's real scheme, and what each checkout event grants."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import pytest
import stripe

from dispatch_server.billing.products import MULTI_INBOX, product
from dispatch_server.billing.stripe_billing import (
    CheckoutSession,
    Grant,
    Ignore,
    Refuse,
    StripeEvent,
    create_checkout_session,
    payment_of,
    read_event,
)
from dispatch_server.config.settings import Billing
from dispatch_server.core.errors import DomainError, ErrorCode, PaymentRefused
from dispatch_server.core.ids import new_id
from tests.stripe_server import (
    TEST_API_KEY,
    WEBHOOK_SECRET,
    StripeServer,
    billing_settings,
    checkout_event,
    event_body,
    sign_stripe_payload,
    unused_base_url,
)

pytestmark = [
    pytest.mark.anyio,
    # stripe 16 hands httpx the form body as `data=` (a string); httpx would take `content=`
    pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw:DeprecationWarning"),
]

WORKSPACE = new_id()
USER = new_id()


async def checkout(
    settings: Billing,
    *,
    workspace_id: str = WORKSPACE,
    user_id: str | None = USER,
    customer_email: str | None = "buyer@example.com",
    idempotency_key: str | None = None,
    **options: Any,
) -> CheckoutSession:
    return await create_checkout_session(
        settings,
        product=product(settings, MULTI_INBOX),
        workspace_id=workspace_id,
        user_id=user_id,
        customer_email=customer_email,
        idempotency_key=idempotency_key,
        **options,
    )


async def unavailable(settings: Billing, **options: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await checkout(settings, **options)
    assert caught.value.code == ErrorCode.BILLING_UNAVAILABLE
    return caught.value


# Checkout sessions.


async def test_session_carries_the_product_inline_with_its_metadata_and_urls(
    stripe_server: StripeServer,
) -> None:
    settings = billing_settings(
        stripe_server,
        checkout_success_url="https://app.example/billing?session={CHECKOUT_SESSION_ID}",
        checkout_cancel_url="https://app.example/billing?cancelled=1",
    )
    session = await checkout(settings, idempotency_key="checkout-1")

    (sent,) = stripe_server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["authorization"] == f"Bearer {TEST_API_KEY}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.headers["idempotency-key"] == "checkout-1"
    assert sent.headers["stripe-version"] == stripe.api_version
    metadata = {"workspace_id": WORKSPACE, "product": MULTI_INBOX, "user_id": USER}
    assert sent.form == {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "900",
                    "product_data": {
                        "name": "Dispatch multi-inbox",
                        "description": "More than one inbox in the workspace",
                    },
                },
                "quantity": "1",
            }
        ],
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "client_reference_id": WORKSPACE,
        "customer_email": "buyer@example.com",
        # Stripe puts the session id in place of the placeholder when it redirects.
        "success_url": "https://app.example/billing?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/billing?cancelled=1",
    }
    stored = stripe_server.sessions[session.id]
    assert session.id.startswith("cs_test_")
    assert session.url == stored["url"] == f"https://checkout.stripe.com/c/pay/{session.id}"
    assert (session.amount_total, session.currency) == (900, "usd")
    assert session.expires_at.tzinfo is not None
    assert session.expires_at.timestamp() == stored["expires_at"]
    assert stored["metadata"] == metadata
    assert (stored["status"], stored["payment_status"]) == ("open", "unpaid")


async def test_session_without_user_or_email_sends_neither(stripe_server: StripeServer) -> None:
    await checkout(billing_settings(stripe_server), user_id=None, customer_email=None)
    (sent,) = stripe_server.requests
    assert sent.form["metadata"] == {"workspace_id": WORKSPACE, "product": MULTI_INBOX}
    assert sent.form["payment_intent_data"] == {"metadata": sent.form["metadata"]}
    assert "customer_email" not in sent.form


async def test_session_uses_the_configured_price(stripe_server: StripeServer) -> None:
    stripe_server.add_price("price_multi_inbox", unit_amount=900, currency="usd")
    settings = billing_settings(stripe_server, stripe_price_multi_inbox="price_multi_inbox")
    session = await checkout(settings)
    (sent,) = stripe_server.requests
    assert sent.form["line_items"] == [{"price": "price_multi_inbox", "quantity": "1"}]
    assert (session.amount_total, session.currency) == (900, "usd")


async def test_a_price_below_the_catalogue_is_not_offered(stripe_server: StripeServer) -> None:
    stripe_server.add_price("price_cheap", unit_amount=500, currency="usd")
    error = await unavailable(
        billing_settings(stripe_server, stripe_price_multi_inbox="price_cheap")
    )
    assert error.message == (
        "the Stripe price of multi_inbox is 500 usd; the catalogue asks 900 usd"
    )


async def test_a_price_in_another_currency_is_not_offered(stripe_server: StripeServer) -> None:
    stripe_server.add_price("price_eur", unit_amount=900, currency="eur")
    error = await unavailable(billing_settings(stripe_server, stripe_price_multi_inbox="price_eur"))
    assert "900 eur" in error.message


async def test_an_unknown_price_is_stripes_refusal(stripe_server: StripeServer) -> None:
    error = await unavailable(
        billing_settings(stripe_server, stripe_price_multi_inbox="price_nope")
    )
    assert error.message == "Stripe refused the checkout session: No such price: 'price_nope'"


async def test_the_same_idempotency_key_answers_the_same_session(
    stripe_server: StripeServer,
) -> None:
    settings = billing_settings(stripe_server)
    first = await checkout(settings, idempotency_key="same")
    again = await checkout(settings, idempotency_key="same")
    other = await checkout(settings, idempotency_key="other")
    assert again == first
    assert other.id != first.id
    assert [r.headers["idempotency-key"] for r in stripe_server.requests] == [
        "same",
        "same",
        "other",
    ]
    assert len(stripe_server.sessions) == 2


async def test_an_idempotency_key_reused_for_another_workspace_is_refused(
    stripe_server: StripeServer,
) -> None:
    settings = billing_settings(stripe_server)
    await checkout(settings, idempotency_key="same")
    error = await unavailable(settings, idempotency_key="same", workspace_id=new_id())
    assert "Idempotency-Key" in error.message
    assert len(stripe_server.sessions) == 1


async def test_a_retry_after_a_5xx_reuses_the_library_key(stripe_server: StripeServer) -> None:
    stripe_server.fail(500)
    session = await checkout(billing_settings(stripe_server), max_network_retries=1)
    failed, answered = stripe_server.requests
    key = failed.headers["idempotency-key"]  # made by the library, shared by its retries
    assert key and answered.headers["idempotency-key"] == key
    assert list(stripe_server.sessions) == [session.id]


async def test_stripe_5xx_is_billing_unavailable(stripe_server: StripeServer) -> None:
    stripe_server.fail(503, times=2)
    error = await unavailable(billing_settings(stripe_server), max_network_retries=1)
    assert error.message == "Stripe could not create the checkout session (HTTP 503); retry shortly"
    assert len(stripe_server.requests) == 2
    assert stripe_server.sessions == {}


async def test_a_wrong_api_key_is_billing_unavailable(stripe_server: StripeServer) -> None:
    settings = billing_settings(stripe_server, stripe_secret_key="sk_test_not_the_key")
    error = await unavailable(settings)
    assert error.message == "Stripe refused the server's API key (STRIPE_SECRET_KEY)"
    (sent,) = stripe_server.requests
    assert sent.headers["authorization"] == "Bearer sk_test_not_the_key"
    assert stripe_server.sessions == {}


async def test_stripe_down_is_billing_unavailable() -> None:
    settings = billing_settings(stripe_api_base=unused_base_url())
    error = await unavailable(settings, max_network_retries=0)
    assert error.message == "Stripe did not answer; retry shortly"


async def test_a_stalled_stripe_times_out_as_billing_unavailable(
    stripe_server: StripeServer,
) -> None:
    stripe_server.stall(10)
    started = time.monotonic()
    error = await unavailable(
        billing_settings(stripe_server), timeout_seconds=0.3, max_network_retries=0
    )
    assert error.message == "Stripe did not answer; retry shortly"
    assert time.monotonic() - started < 5


async def test_an_answer_that_is_not_json_is_billing_unavailable(
    stripe_server: StripeServer,
) -> None:
    stripe_server.fail(200, body=b"<html>proxy</html>")
    error = await unavailable(billing_settings(stripe_server))
    assert error.message == "Stripe could not create the checkout session (HTTP 200); retry shortly"


async def test_without_a_secret_key_nothing_is_asked(stripe_server: StripeServer) -> None:
    error = await unavailable(billing_settings(stripe_server, stripe_secret_key=None))
    assert "STRIPE_SECRET_KEY" in error.message
    assert stripe_server.requests == []


async def test_the_call_does_not_block_the_event_loop(stripe_server: StripeServer) -> None:
    stripe_server.stall(0.5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(tick)
        await checkout(billing_settings(stripe_server))
        tasks.cancel_scope.cancel()
    assert ticks >= 20


async def test_the_local_server_answers_retrieval_like_stripe(
    stripe_server: StripeServer,
) -> None:
    session = await checkout(billing_settings(stripe_server))
    http_client = stripe.HTTPXClient()
    client = stripe.StripeClient(
        TEST_API_KEY, base_addresses={"api": stripe_server.base_url}, http_client=http_client
    )
    try:
        found = await client.v1.checkout.sessions.retrieve_async(session.id)
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await client.v1.checkout.sessions.retrieve_async("cs_test_missing")
    finally:
        await http_client.close_async()  # type: ignore[no-untyped-call]
    assert found.metadata is not None
    assert (found.id, found.url, found.metadata.to_dict()) == (
        session.id,
        session.url,
        {"workspace_id": WORKSPACE, "product": MULTI_INBOX, "user_id": USER},
    )
    assert missing.value.code == "resource_missing"
    assert stripe_server.requests[-1].path == "/v1/checkout/sessions/cs_test_missing"


# Webhook signatures.

SETTINGS = billing_settings()
NOW = int(time.time())


def an_event(**changes: Any) -> dict[str, Any]:
    session = {
        "id": "cs_test_a1",
        "object": "checkout.session",
        "amount_total": 900,
        "currency": "usd",
        "client_reference_id": WORKSPACE,
        "metadata": {"workspace_id": WORKSPACE, "product": MULTI_INBOX, "user_id": USER},
        "mode": "payment",
        "payment_intent": "pi_test_1",
        "payment_status": "paid",
        "status": "complete",
    }
    session.update(changes)
    return checkout_event(session, event_id="evt_test_1", created=NOW)


def refused(payload: bytes, header: str | None, settings: Billing = SETTINGS) -> str:
    with pytest.raises(PaymentRefused) as caught:
        read_event(payload, header, settings)
    assert caught.value.code == ErrorCode.STRIPE_SIGNATURE_INVALID
    return caught.value.message


def test_a_signed_event_is_read() -> None:
    body = event_body(an_event())
    event = read_event(body, sign_stripe_payload(body, WEBHOOK_SECRET), SETTINGS)
    assert (event.id, event.type, event.livemode) == (
        "evt_test_1",
        "checkout.session.completed",
        False,
    )
    assert event.created is not None and event.created.timestamp() == NOW
    assert event.object["id"] == "cs_test_a1"
    assert event.payload == json.loads(body)
    json.dumps(event.payload)  # recordable as it is


def test_the_helper_signs_as_the_library_does() -> None:
    body = event_body(an_event())
    ours = sign_stripe_payload(body, WEBHOOK_SECRET, NOW)
    assert ours == stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, NOW
    )


def test_either_secret_verifies_while_one_is_rotated() -> None:
    settings = billing_settings(stripe_webhook_secret=("whsec_old", "whsec_new"))
    body = event_body(an_event())
    for secret in ("whsec_old", "whsec_new"):
        assert read_event(body, sign_stripe_payload(body, secret), settings).id == "evt_test_1"
    assert refused(body, sign_stripe_payload(body, "whsec_other"), settings) == (
        "the Stripe-Signature matches none of the configured secrets"
    )


def test_a_header_with_several_signatures_needs_one_to_match() -> None:
    body = event_body(an_event())
    header = sign_stripe_payload(body, "whsec_unknown", extra_secrets=[WEBHOOK_SECRET])
    assert header.count("v1=") == 2
    assert read_event(body, header, SETTINGS).id == "evt_test_1"
    both_unknown = sign_stripe_payload(body, "whsec_unknown", extra_secrets=["whsec_also"])
    assert refused(body, both_unknown) == (
        "the Stripe-Signature matches none of the configured secrets"
    )


def test_a_timestamp_older_than_the_tolerance_is_refused() -> None:
    settings = billing_settings(stripe_webhook_tolerance_seconds=60)
    body = event_body(an_event())
    recent = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()) - 50)
    assert read_event(body, recent, settings).id == "evt_test_1"
    stale = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()) - 70)
    assert refused(body, stale, settings) == (
        "the Stripe-Signature timestamp is more than 60 seconds old"
    )
    default_stale = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()) - 310)
    assert "300 seconds" in refused(body, default_stale)


def test_a_future_timestamp_is_accepted_as_the_library_does() -> None:
    # Stripe's libraries bound only the age of a signature, not clock skew ahead.
    body = event_body(an_event())
    ahead = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()) + 3600)
    assert stripe.WebhookSignature.verify_header(body, ahead, WEBHOOK_SECRET, 300)
    assert read_event(body, ahead, SETTINGS).id == "evt_test_1"


def test_a_tampered_payload_is_refused() -> None:
    body = event_body(an_event())
    header = sign_stripe_payload(body, WEBHOOK_SECRET)
    tampered = body.replace(b'"amount_total": 900', b'"amount_total": 90000')
    assert tampered != body
    assert refused(tampered, header) == (
        "the Stripe-Signature matches none of the configured secrets"
    )


def test_a_wrong_secret_is_refused() -> None:
    body = event_body(an_event())
    assert refused(body, sign_stripe_payload(body, "whsec_wrong")) == (
        "the Stripe-Signature matches none of the configured secrets"
    )


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_header_is_refused(header: str | None) -> None:
    assert refused(event_body(an_event()), header) == "the Stripe-Signature header is missing"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=yesterday,v1=00ff",
        "v1=00ff",  # no timestamp
        f"t={NOW}",  # no signature
        f"t={NOW},v0=00ff",  # another scheme only
        f"t={'9' * 5000},v1=00ff",  # above Python's int parsing limit
    ],
)
def test_a_garbled_header_is_refused(header: str) -> None:
    assert refused(event_body(an_event()), header) == "the Stripe-Signature header is malformed"


def test_a_signed_body_that_is_not_utf8_is_refused() -> None:
    body = b'{"id": "\xff"}'
    assert refused(body, sign_stripe_payload(body, WEBHOOK_SECRET)) == (
        "the webhook body is not UTF-8"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the signed webhook body is not JSON"),
        (b"[1, 2]", "the signed webhook body is not a Stripe event"),
        (b'{"id": "ch_1", "object": "charge"}', "the signed webhook body is not a Stripe event"),
        (
            b'{"id": "evt_1", "object": "event", "type": "x", "data": {"object": "str"}}',
            "the signed webhook body is not a Stripe event",
        ),
        (
            b'{"id": "evt_1", "object": "event", "data": {"object": {}}}',
            "the signed webhook body is not a Stripe event",
        ),
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(body: bytes, message: str) -> None:
    assert refused(body, sign_stripe_payload(body, WEBHOOK_SECRET)) == message


def test_without_a_webhook_secret_nothing_is_verified() -> None:
    body = event_body(an_event())
    with pytest.raises(DomainError) as caught:
        read_event(body, sign_stripe_payload(body, WEBHOOK_SECRET), Billing())
    assert caught.value.code == ErrorCode.BILLING_UNAVAILABLE
    assert not isinstance(caught.value, PaymentRefused)


# What an event grants.


@pytest.fixture
async def paid_event(stripe_server: StripeServer) -> AsyncIterator[dict[str, Any]]:
    """The completed-session event of a session created through the local Stripe."""
    session = await checkout(billing_settings(stripe_server))
    yield checkout_event(stripe_server.complete(session.id))


def verified(event: dict[str, Any]) -> StripeEvent:
    body = event_body(event)
    return read_event(body, sign_stripe_payload(body, WEBHOOK_SECRET), SETTINGS)


async def test_a_paid_session_grants_the_product(paid_event: dict[str, Any]) -> None:
    session = paid_event["data"]["object"]
    assert verified(paid_event).payload == paid_event
    assert payment_of(verified(paid_event), SETTINGS) == Grant(
        workspace_id=WORKSPACE,
        product=MULTI_INBOX,
        session_id=session["id"],
        amount=900,
        currency="usd",
        user_id=USER,
        payment_intent=session["payment_intent"],
    )


async def test_a_delayed_payment_that_succeeds_grants(paid_event: dict[str, Any]) -> None:
    later = {**paid_event, "type": "checkout.session.async_payment_succeeded"}
    outcome = payment_of(verified(later), SETTINGS)
    assert isinstance(outcome, Grant)
    assert outcome.kind == "grant"
    assert outcome.session_id == paid_event["data"]["object"]["id"]


def test_paying_more_than_the_price_grants() -> None:
    outcome = payment_of(verified(an_event(amount_total=1500, currency="USD")), SETTINGS)
    assert isinstance(outcome, Grant)
    assert (outcome.amount, outcome.currency) == (1500, "usd")


def test_a_grant_without_a_user_has_none() -> None:
    metadata = {"workspace_id": WORKSPACE, "product": MULTI_INBOX}
    outcome = payment_of(verified(an_event(metadata=metadata)), SETTINGS)
    assert isinstance(outcome, Grant)
    assert outcome.user_id is None


OTHER_WORKSPACE = new_id()


@pytest.mark.parametrize(
    ("changes", "reason", "workspace_id", "product_id"),
    [
        ({"object": "payment_intent"}, "session_invalid", WORKSPACE, MULTI_INBOX),
        ({"id": None}, "session_invalid", WORKSPACE, MULTI_INBOX),
        ({"metadata": {}}, "metadata_missing", None, None),
        ({"metadata": None}, "metadata_missing", None, None),
        ({"metadata": {"workspace_id": WORKSPACE}}, "metadata_missing", WORKSPACE, None),
        (
            {"metadata": {"workspace_id": "ws_1", "product": MULTI_INBOX}},
            "metadata_invalid",
            None,
            MULTI_INBOX,
        ),
        (
            {"client_reference_id": OTHER_WORKSPACE},
            "metadata_invalid",
            WORKSPACE,
            MULTI_INBOX,
        ),
        (
            {"metadata": {"workspace_id": WORKSPACE, "product": MULTI_INBOX, "user_id": ""}},
            "metadata_invalid",
            WORKSPACE,
            MULTI_INBOX,
        ),
        (
            {"metadata": {"workspace_id": WORKSPACE, "product": "gold"}},
            "product_unknown",
            WORKSPACE,
            "gold",
        ),
        (
            {"metadata": {"workspace_id": WORKSPACE, "product": "x" * 41}},
            "product_unknown",
            WORKSPACE,
            None,
        ),
        ({"payment_status": "unpaid"}, "unpaid", WORKSPACE, MULTI_INBOX),
        ({"payment_status": "no_payment_required"}, "unpaid", WORKSPACE, MULTI_INBOX),
        ({"currency": "eur"}, "currency_mismatch", WORKSPACE, MULTI_INBOX),
        ({"currency": None}, "currency_mismatch", WORKSPACE, MULTI_INBOX),
        ({"amount_total": 899}, "underpaid", WORKSPACE, MULTI_INBOX),
        ({"amount_total": None}, "underpaid", WORKSPACE, MULTI_INBOX),
        ({"amount_total": "900"}, "underpaid", WORKSPACE, MULTI_INBOX),
    ],
)
def test_a_session_that_cannot_grant_is_refused_with_its_reason(
    changes: dict[str, Any], reason: str, workspace_id: str | None, product_id: str | None
) -> None:
    outcome = payment_of(verified(an_event(**changes)), SETTINGS)
    assert isinstance(outcome, Refuse)
    assert outcome.kind == "refuse"
    assert (outcome.reason, outcome.workspace_id, outcome.product) == (
        reason,
        workspace_id,
        product_id,
    )
    assert outcome.detail


def test_refusal_details_say_what_was_wrong() -> None:
    def detail(**changes: Any) -> str:
        outcome = payment_of(verified(an_event(**changes)), SETTINGS)
        assert isinstance(outcome, Refuse)
        return outcome.detail

    assert detail(amount_total=899) == "session cs_test_a1 paid 899; multi_inbox costs 900"
    assert detail(currency="eur") == (
        "session cs_test_a1 was paid in 'eur'; multi_inbox is priced in usd"
    )
    assert detail(payment_status="unpaid") == "session cs_test_a1: payment_status is 'unpaid'"


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [
        ("checkout.session.async_payment_failed", "the delayed payment of the session failed"),
        ("checkout.session.expired", "the session expired unpaid"),
        ("payment_intent.succeeded", "payment_intent.succeeded grants nothing"),
        ("customer.created", "customer.created grants nothing"),
    ],
)
def test_other_events_are_ignored(event_type: str, reason: str) -> None:
    event = {**an_event(), "type": event_type}
    outcome = payment_of(verified(event), SETTINGS)
    assert outcome == Ignore(reason=reason)
    assert outcome.kind == "ignore"


def test_outcomes_are_frozen() -> None:
    outcome = payment_of(verified(an_event()), SETTINGS)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        outcome.kind = "refuse"  # type: ignore[misc]
