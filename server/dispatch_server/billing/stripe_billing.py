"""Stripe: the checkout session a buyer pays on, and the signed webhook that says they paid.

Pure steps, no database: `create_checkout_session` asks Stripe for a hosted checkout page
(the official library's async client, through httpx); `read_event` verifies a webhook's
`Stripe-Signature` with the library's own check, against each configured secret; and
`payment_of` says what a verified event means for the catalogue: `Grant`, `Refuse` or
`Ignore`. Recording the event (`billing_events`) and granting the entitlement are the
caller's, in one transaction.

Only a paid `checkout.session.completed` or `checkout.session.async_payment_succeeded`
grants, and only when its metadata names a workspace and a catalogue product and it paid
at least the product's price in the catalogue's currency.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, TypeGuard

import attrs
import stripe
from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsLineItem,
    SessionCreateParamsPaymentIntentData,
)

from dispatch_server.billing.products import Product, catalogue
from dispatch_server.config.settings import Billing
from dispatch_server.core.clock import from_unix
from dispatch_server.core.errors import DomainError, ErrorCode, PaymentRefused
from dispatch_server.core.ids import is_id

# One call to Stripe, retries included, gives up after about this many seconds per try.
TIMEOUT_SECONDS = 20.0
# Stripe's libraries retry connection errors, 409 and 5xx with the same Idempotency-Key.
MAX_NETWORK_RETRIES = 2

# The events that can carry a paid checkout session.
PAID_SESSION_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
_KNOWN_UNPAID_EVENTS = {
    "checkout.session.async_payment_failed": "the delayed payment of the session failed",
    "checkout.session.expired": "the session expired unpaid",
}


@attrs.frozen(kw_only=True)
class CheckoutSession:
    """A hosted checkout page: where to send the buyer, and until when it can be paid."""

    id: str  # cs_test_... / cs_live_...
    url: str
    expires_at: datetime  # UTC
    amount_total: int  # in the smallest unit of `currency` (cents)
    currency: str  # lower-case ISO code


def _metadata(product: Product, workspace_id: str, user_id: str | None) -> dict[str, str]:
    metadata = {"workspace_id": workspace_id, "product": product.id}
    if user_id is not None:
        metadata["user_id"] = user_id
    return metadata


def checkout_params(
    settings: Billing,
    *,
    product: Product,
    workspace_id: str,
    user_id: str | None,
    customer_email: str | None,
) -> SessionCreateParams:
    """The `POST /v1/checkout/sessions` parameters for one product bought by a workspace."""
    line_item: SessionCreateParamsLineItem
    if settings.stripe_price_multi_inbox is not None:
        line_item = {"price": settings.stripe_price_multi_inbox, "quantity": 1}
    else:
        line_item = {
            "price_data": {
                "currency": product.currency,
                "unit_amount": product.price_cents,
                "product_data": {"name": product.name, "description": product.description},
            },
            "quantity": 1,
        }
    payment_intent_data: SessionCreateParamsPaymentIntentData = {
        "metadata": _metadata(product, workspace_id, user_id)
    }
    params: SessionCreateParams = {
        "mode": "payment",
        "line_items": [line_item],
        "metadata": _metadata(product, workspace_id, user_id),
        "payment_intent_data": payment_intent_data,
        "client_reference_id": workspace_id,
        "success_url": settings.checkout_success_url,
        "cancel_url": settings.checkout_cancel_url,
    }
    if customer_email is not None:
        params["customer_email"] = customer_email
    return params


def _unavailable_message(error: stripe.StripeError) -> str:
    if isinstance(error, stripe.APIConnectionError):
        return "Stripe did not answer; retry shortly"
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return "Stripe refused the server's API key (STRIPE_SECRET_KEY)"
    if isinstance(error, stripe.IdempotencyError):
        return (
            "Stripe refused the checkout session: its Idempotency-Key was used for another request"
        )
    if isinstance(error, stripe.InvalidRequestError):
        detail = error.user_message or "invalid request"
        return f"Stripe refused the checkout session: {detail}"
    if isinstance(error, stripe.RateLimitError):
        return "Stripe is rate-limiting the server; retry shortly"
    status = f" (HTTP {error.http_status})" if error.http_status else ""
    return f"Stripe could not create the checkout session{status}; retry shortly"


def _session_of(session: stripe.checkout.Session, product: Product) -> CheckoutSession:
    # Read as answered: a field missing from the answer is None here, not an AttributeError.
    session_id: object = getattr(session, "id", None)
    url: object = getattr(session, "url", None)
    amount_total: object = getattr(session, "amount_total", None)
    currency: object = getattr(session, "currency", None)
    expires_at: object = getattr(session, "expires_at", None)
    if not (
        isinstance(session_id, str)
        and isinstance(url, str)
        and _is_int(amount_total)
        and isinstance(currency, str)
        and _is_int(expires_at)
    ):
        raise DomainError(
            "Stripe answered a checkout session without its id, url, amount, currency or expiry",
            code=ErrorCode.BILLING_UNAVAILABLE,
        )
    if currency.lower() != product.currency or amount_total < product.price_cents:
        # A Price (STRIPE_PRICE_MULTI_INBOX) cheaper than the catalogue, or in another
        # currency: its payment would never grant, so it is not offered.
        raise DomainError(
            f"the Stripe price of {product.id} is {amount_total} {currency.lower()}; the "
            f"catalogue asks {product.price_cents} {product.currency}",
            code=ErrorCode.BILLING_UNAVAILABLE,
        )
    try:
        expires = from_unix(expires_at)
    except ValueError:
        raise DomainError(
            "Stripe answered a checkout session with an impossible expiry",
            code=ErrorCode.BILLING_UNAVAILABLE,
        ) from None
    return CheckoutSession(
        id=session_id,
        url=url,
        expires_at=expires,
        amount_total=amount_total,
        currency=currency.lower(),
    )


async def create_checkout_session(
    settings: Billing,
    *,
    product: Product,
    workspace_id: str,
    user_id: str | None,
    customer_email: str | None,
    idempotency_key: str | None,
    timeout_seconds: float = TIMEOUT_SECONDS,
    max_network_retries: int = MAX_NETWORK_RETRIES,
) -> CheckoutSession:
    """A Stripe checkout session for `product`, bought by `workspace_id`.

    `idempotency_key` goes to Stripe as its `Idempotency-Key` (the same key answers the same
    session for 24 hours); without one, the library makes one that its retries share.
    Raises `DomainError(code=billing_unavailable)` when Stripe is not configured or did not
    create the session (unreachable, key refused, request refused, 5xx)."""
    if not settings.stripe_secret_key:
        raise DomainError(
            "card payments are not configured on this server (STRIPE_SECRET_KEY)",
            code=ErrorCode.BILLING_UNAVAILABLE,
        )
    params = checkout_params(
        settings,
        product=product,
        workspace_id=workspace_id,
        user_id=user_id,
        customer_email=customer_email,
    )
    options: stripe.RequestOptions = {}
    if idempotency_key is not None:
        options["idempotency_key"] = idempotency_key
    http_client = stripe.HTTPXClient(timeout=timeout_seconds)
    client = stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=max_network_retries,
        http_client=http_client,
    )
    try:
        session = await client.v1.checkout.sessions.create_async(params, options)
    except stripe.StripeError as error:
        raise DomainError(
            _unavailable_message(error), code=ErrorCode.BILLING_UNAVAILABLE
        ) from error
    finally:
        await http_client.close_async()  # type: ignore[no-untyped-call]
    return _session_of(session, product)


@attrs.frozen(kw_only=True)
class StripeEvent:
    """A webhook event whose signature was verified."""

    id: str  # evt_...
    type: str  # checkout.session.completed, ...
    created: datetime | None  # UTC
    livemode: bool
    object: dict[str, Any] = attrs.field(eq=False)  # data.object: the session, for checkout
    payload: dict[str, Any] = attrs.field(eq=False)  # the whole event as Stripe sent it


def _refused(message: str) -> PaymentRefused:
    return PaymentRefused(ErrorCode.STRIPE_SIGNATURE_INVALID, message)


# The library's words for a header it cannot read (its other refusals: no match, stale).
_MALFORMED = ("Unable to extract timestamp", "No signatures found with expected scheme")


def _verify(payload: bytes, header: str, secrets: tuple[str, ...], tolerance: int) -> None:
    """Passes when one secret signed the payload within the tolerance: the library's check
    (which accepts any of several `v1` signatures in one header), first without the
    tolerance, so that a stale signature is told from a foreign one."""
    stale = False
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, None)
        except stripe.SignatureVerificationError as error:
            if str(error.user_message or "").startswith(_MALFORMED):
                raise _refused("the Stripe-Signature header is malformed") from None
            continue
        except ValueError:  # the payload is not UTF-8
            raise _refused("the webhook body is not UTF-8") from None
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
        except stripe.SignatureVerificationError:
            stale = True
            continue
        return
    if stale:
        raise _refused(f"the Stripe-Signature timestamp is more than {tolerance} seconds old")
    raise _refused("the Stripe-Signature matches none of the configured secrets")


def read_event(payload: bytes, signature_header: str | None, settings: Billing) -> StripeEvent:
    """The event of a Stripe webhook, once its `Stripe-Signature` checks out with one of the
    configured secrets (several while one is rotated) within the tolerance.

    Raises `PaymentRefused(stripe_signature_invalid)` for a missing, malformed, stale or
    foreign signature, or a signed body that is not a Stripe event; `DomainError(
    billing_unavailable)` when no webhook secret is configured."""
    if not settings.stripe_webhook_secret:
        raise DomainError(
            "the Stripe webhook is not configured on this server (STRIPE_WEBHOOK_SECRET)",
            code=ErrorCode.BILLING_UNAVAILABLE,
        )
    if not signature_header or not signature_header.strip():
        raise _refused("the Stripe-Signature header is missing")
    _verify(
        payload,
        signature_header,
        settings.stripe_webhook_secret,
        settings.stripe_webhook_tolerance_seconds,
    )
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):
        raise _refused("the signed webhook body is not JSON") from None
    data = event.get("data") if isinstance(event, dict) else None
    event_object = data.get("object") if isinstance(data, dict) else None
    event_id = event.get("id") if isinstance(event, dict) else None
    event_type = event.get("type") if isinstance(event, dict) else None
    if not (
        isinstance(event, dict)
        and event.get("object") == "event"
        and isinstance(event_id, str)
        and 0 < len(event_id) <= 255
        and isinstance(event_type, str)
        and 0 < len(event_type) <= 100
        and isinstance(event_object, dict)
    ):
        raise _refused("the signed webhook body is not a Stripe event")
    created = event.get("created")
    try:
        created_at = from_unix(created) if _is_int(created) else None
    except ValueError:
        created_at = None
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=created_at,
        livemode=event.get("livemode") is True,
        object=event_object,
        payload=event,
    )


@attrs.frozen(kw_only=True)
class Grant:
    """A paid session: the workspace gets the product."""

    kind: Literal["grant"] = attrs.field(default="grant", init=False)
    workspace_id: str
    product: str  # a catalogue id
    session_id: str
    amount: int  # amount_total, in the smallest unit of `currency`
    currency: str
    user_id: str | None  # who started the checkout, when the metadata says
    payment_intent: str | None


RefuseReason = Literal[
    "session_invalid",
    "metadata_missing",
    "metadata_invalid",
    "product_unknown",
    "unpaid",
    "currency_mismatch",
    "underpaid",
    "livemode_mismatch",
]


@attrs.frozen(kw_only=True)
class Refuse:
    """A checkout event that grants nothing; `reason` is stable, `detail` a sentence."""

    kind: Literal["refuse"] = attrs.field(default="refuse", init=False)
    reason: RefuseReason
    detail: str
    workspace_id: str | None  # the metadata's, when it is an id
    product: str | None  # the metadata's, when it is a short string


@attrs.frozen(kw_only=True)
class Ignore:
    """An event that has nothing to grant (expired, failed, or not a checkout event)."""

    kind: Literal["ignore"] = attrs.field(default="ignore", init=False)
    reason: str


@attrs.frozen(kw_only=True)
class Revoke:
    """A card payment taken back (refunded in full, or disputed): what it granted goes."""

    kind: Literal["revoke"] = attrs.field(default="revoke", init=False)
    payment_intent: str
    reason: str


# Events that take a payment back, and how to read which PaymentIntent they name.
REVOKING_EVENTS = frozenset({"charge.refunded", "charge.dispute.created"})

StripeOutcome = Grant | Refuse | Ignore | Revoke


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _live_key(settings: Billing) -> bool | None:
    """Whether STRIPE_SECRET_KEY is a live key (`sk_live_`, `rk_live_`); None when unset or
    of neither form."""
    key = settings.stripe_secret_key or ""
    if key.startswith(("sk_live_", "rk_live_")):
        return True
    if key.startswith(("sk_test_", "rk_test_")):
        return False
    return None


def _taken_back(event: StripeEvent, settings: Billing) -> Revoke | Ignore:
    """A refund in full or a dispute of the PaymentIntent of a paid session."""
    taken = event.object
    live = _live_key(settings)
    if live is not None and event.livemode is not live:
        return Ignore(reason="an event of the other mode (live or test) than this server's key")
    if event.type == "charge.refunded" and taken.get("refunded") is not True:
        return Ignore(reason="a partial refund: the product stays granted")
    payment_intent = taken.get("payment_intent")
    if isinstance(payment_intent, dict):  # expanded
        payment_intent = payment_intent.get("id")
    if not isinstance(payment_intent, str) or not 0 < len(payment_intent) <= 255:
        return Ignore(reason=f"{event.type} names no PaymentIntent")
    reason = "refunded" if event.type == "charge.refunded" else "disputed"
    return Revoke(payment_intent=payment_intent, reason=reason)


def payment_of(event: StripeEvent, settings: Billing) -> StripeOutcome:
    """What a verified event grants: `Grant` for a paid checkout session of a catalogue
    product that paid its price, `Refuse` for a checkout session that cannot grant (and
    why), `Ignore` for every other event."""
    if event.type in REVOKING_EVENTS:
        return _taken_back(event, settings)
    if event.type not in PAID_SESSION_EVENTS:
        return Ignore(reason=_KNOWN_UNPAID_EVENTS.get(event.type, f"{event.type} grants nothing"))
    session = event.object
    session_id = session.get("id")
    metadata = session.get("metadata")
    raw_workspace = metadata.get("workspace_id") if isinstance(metadata, dict) else None
    raw_product = metadata.get("product") if isinstance(metadata, dict) else None
    raw_user = metadata.get("user_id") if isinstance(metadata, dict) else None
    workspace_id = (
        raw_workspace if isinstance(raw_workspace, str) and is_id(raw_workspace) else None
    )
    product_id = raw_product if isinstance(raw_product, str) and len(raw_product) <= 40 else None

    def refuse(reason: RefuseReason, detail: str) -> Refuse:
        return Refuse(reason=reason, detail=detail, workspace_id=workspace_id, product=product_id)

    if session.get("object") != "checkout.session" or not isinstance(session_id, str):
        return refuse("session_invalid", "the event does not carry a checkout session")
    live = _live_key(settings)
    if live is not None and event.livemode is not live:
        # A test-mode secret among STRIPE_WEBHOOK_SECRET must not let test cards grant.
        return refuse(
            "livemode_mismatch",
            f"a {'test' if live else 'live'}-mode event, and this server's key is "
            f"{'live' if live else 'test'}-mode",
        )
    if raw_workspace is None or raw_product is None:
        return refuse(
            "metadata_missing",
            f"session {session_id} has no workspace_id or product in its metadata",
        )
    if workspace_id is None:
        return refuse("metadata_invalid", f"session {session_id}: workspace_id is not an id")
    reference = session.get("client_reference_id")
    if reference is not None and reference != workspace_id:
        return refuse(
            "metadata_invalid",
            f"session {session_id}: client_reference_id is not the metadata's workspace_id",
        )
    if raw_user is not None and not (isinstance(raw_user, str) and raw_user):
        return refuse("metadata_invalid", f"session {session_id}: user_id is not a string")
    product = catalogue(settings).get(raw_product) if isinstance(raw_product, str) else None
    if product is None:
        return refuse("product_unknown", f"session {session_id}: no product {raw_product!r}")
    payment_status = session.get("payment_status")
    if payment_status != "paid":
        return refuse("unpaid", f"session {session_id}: payment_status is {payment_status!r}")
    currency = session.get("currency")
    if not isinstance(currency, str) or currency.lower() != product.currency:
        return refuse(
            "currency_mismatch",
            f"session {session_id} was paid in {currency!r}; {product.id} is priced in "
            f"{product.currency}",
        )
    amount = session.get("amount_total")
    if not _is_int(amount) or amount < product.price_cents:
        return refuse(
            "underpaid",
            f"session {session_id} paid {amount!r}; {product.id} costs {product.price_cents}",
        )
    payment_intent = session.get("payment_intent")
    if isinstance(payment_intent, dict):  # expanded
        payment_intent = payment_intent.get("id")
    return Grant(
        workspace_id=workspace_id,
        product=product.id,
        session_id=session_id,
        amount=amount,
        currency=product.currency,
        user_id=raw_user,
        payment_intent=payment_intent if isinstance(payment_intent, str) else None,
    )
