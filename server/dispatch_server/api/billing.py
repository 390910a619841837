"""Billing routes: entitlements, Stripe checkout, x402 quotes and payment confirmation, and
the payment offer a refused inbox creation carries (`402 upgrade_required`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from dispatch_server.auth.principal import Principal, Scope
from dispatch_server.billing import entitlements, products, quotes, stripe_billing, x402
from dispatch_server.billing.chains import ExpectedPayment
from dispatch_server.billing.products import MULTI_INBOX, Product
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, UpgradeRequired
from dispatch_server.domain import claims
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field, project
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.services import Services

QUOTE_PATH = "/v1/billing/x402/quote"
CONFIRM_PATH = "/v1/billing/payments/confirm"
CHECKOUT_PATH = "/v1/billing/checkout/session"


@attrs.frozen(kw_only=True)
class Entitlement:
    product: str
    status: str = field(description="`active` or `revoked`")
    source: str = field(description="`stripe` or `x402`")
    source_ref: str = field(description="the Checkout Session id, or the transaction hash")
    granted_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: entitlements.Entitlement) -> Entitlement:
        return project(cls, record)


@attrs.frozen(kw_only=True)
class Entitlements:
    plan: str = field(description="the workspace's plan: `free` or `multi_inbox`")
    data: tuple[Entitlement, ...]


async def list_entitlements(call: Call[None]) -> Entitlements:
    workspace_id = call.principal.workspace_id
    db = call.services.db
    found = await db.run_read(entitlements.list_entitlements, workspace_id)
    # A grant sets the plan and a revocation resets it: the plan is the workspace's.
    plan = await db.run_read(entitlements.plan_of, workspace_id)
    return Entitlements(plan=plan, data=tuple(Entitlement.of(e) for e in found))


# --- Stripe checkout ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CreateCheckoutSession:
    product: str = field(default=MULTI_INBOX, maxLength=40)


@attrs.frozen(kw_only=True)
class CheckoutSession:
    id: str = field(description="Stripe's Checkout Session id (`cs_...`)")
    url: str = field(description="send the buyer here")
    product: str
    amount: int = field(description="in the smallest unit of `currency` (cents)")
    currency: str
    expires_at: datetime


async def create_checkout_session(call: Call[CreateCheckoutSession]) -> CheckoutSession:
    return await start_checkout(
        call.services,
        call.principal,
        call.body.product,
        idempotency_key=_stripe_idempotency_key(call),
    )


async def start_checkout(
    services: Services, principal: Principal, product_id: str, *, idempotency_key: str | None
) -> CheckoutSession:
    """A Stripe Checkout Session for the principal's workspace (the API's route and the
    console's upgrade button)."""
    settings = services.settings.billing
    product = products.product(settings, product_id)
    owner = await services.db.run_read(claims.owner_of_agent, principal.agent_id)
    session = await stripe_billing.create_checkout_session(
        settings,
        product=product,
        workspace_id=principal.workspace_id,
        user_id=owner.user_id if owner else None,
        customer_email=owner.email if owner else None,
        idempotency_key=idempotency_key,
    )
    return CheckoutSession(
        id=session.id,
        url=session.url,
        product=product.id,
        amount=session.amount_total,
        currency=session.currency,
        expires_at=session.expires_at,
    )


def _stripe_idempotency_key(call: Call[CreateCheckoutSession]) -> str | None:
    """The caller's Idempotency-Key as Stripe's, scoped to the workspace: Stripe keys are
    per Stripe account, and two workspaces may pick the same key."""
    key = call.request.headers.get("idempotency-key")
    return None if key is None else f"{call.principal.workspace_id}:{key}"


# --- x402 ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CreateQuote:
    chain: str = field(
        default="evm", maxLength=10, description="`evm` or `solana`; the rails configured"
    )
    product: str = field(default=MULTI_INBOX, maxLength=40)
    payer: str | None = field(
        default=None,
        maxLength=64,
        description="when given, only a payment from this address or wallet confirms it",
    )


@attrs.frozen(kw_only=True)
class X402Quote:
    quote_id: str
    product: str
    chain: str = field(description="the rail: `evm` or `solana`")
    network: str = field(description="x402's network name (`base`, `base-sepolia`, `solana`)")
    chain_id: int | None = field(description="EVM only")
    rpc_url: str
    recipient: str
    token: str = field(description="EVM: the USDC contract; Solana: the USDC mint")
    amount: str = field(description="in the token's base units (USDC: 6 decimals)")
    amount_display: str = field(description="the amount in USDC (`9`, `0.5`)")
    decimals: int
    reference: str = field(
        description="carry this in the payment: EVM, the 32 bytes after the `transfer` "
        "arguments in the calldata; Solana, a read-only account of the transfer instruction"
    )
    payer: str | None
    expires_at: datetime = field(description="the payment must be in a block before this")
    paid_tx_hash: str | None
    confirm_url: str
    created_at: datetime


def _quote_shape(quote: quotes.Quote, config: x402.RailConfig, product: Product) -> X402Quote:
    return X402Quote(
        quote_id=quote.id,
        product=quote.product,
        chain=quote.rail,
        network=quote.network,
        chain_id=config.chain_id,
        rpc_url=config.public_rpc_url,
        recipient=quote.recipient,
        token=quote.asset,
        amount=str(quote.amount),
        amount_display=product.usdc_display,
        decimals=config.decimals,
        reference=x402.reference_text(quote),
        payer=quote.payer,
        expires_at=quote.expires_at,
        paid_tx_hash=quote.paid_tx_hash,
        confirm_url=CONFIRM_PATH,
        created_at=quote.created_at,
    )


async def create_quote(call: Call[CreateQuote]) -> X402Quote:
    settings = call.services.settings.billing
    config = x402.rail(settings, call.body.chain)
    product = products.product(settings, call.body.product)
    payer = _payer(config.rail, call.body.payer)
    quote = await call.services.db.run_write(
        quotes.issue,
        workspace_id=call.principal.workspace_id,
        product=product.id,
        terms=config.terms(product),
        payer=payer,
        ttl=x402.ttl(settings),
        now=utcnow(),
    )
    return _quote_shape(quote, config, product)


@attrs.frozen(kw_only=True)
class QuoteList:
    data: tuple[X402Quote, ...]


async def list_open_quotes(call: Call[None]) -> QuoteList:
    settings = call.services.settings.billing
    configured = x402.rails(settings)
    found = await call.services.db.run_read(
        quotes.list_open, call.principal.workspace_id, now=utcnow()
    )
    catalogue = products.catalogue(settings)
    return QuoteList(
        data=tuple(
            _quote_shape(q, configured[q.rail], catalogue[q.product])
            for q in found
            if q.rail in configured and q.product in catalogue
        )
    )


def _payer(rail: str, payer: str | None) -> str | None:
    if payer is None:
        return None
    from dispatch_server.auth import wallets

    return wallets.normalize_address(rail, payer, param="payer")


@attrs.frozen(kw_only=True)
class ConfirmPayment:
    quote_id: str = field(maxLength=36)
    tx_hash: str = field(maxLength=128, description="EVM: 0x-hex; Solana: the signature")
    payer: str | None = field(default=None, maxLength=64)
    provider: str = field(
        default="x402",
        maxLength=10,
        description="`x402`; `stripe` is refused: Stripe payments are granted by its webhook",
    )


@attrs.frozen(kw_only=True)
class PaymentConfirmation:
    quote_id: str
    product: str
    chain: str
    network: str
    tx_hash: str
    payer: str
    amount: str
    entitlement: Entitlement
    replayed: bool = field(description="this transaction had confirmed this quote before")


async def confirm_payment(call: Call[ConfirmPayment]) -> PaymentConfirmation:
    body = call.body
    if body.provider == "stripe" or body.tx_hash.startswith(("cs_", "pi_", "ch_")):
        raise DomainError(
            "Stripe payments are confirmed by Stripe's signed webhook, never by hand",
            code=ErrorCode.STRIPE_CONFIRMATION_REFUSED,
            param="provider",
        )
    if body.provider != "x402":
        raise DomainError("provider must be x402", param="provider")
    settings = call.services.settings.billing
    db = call.services.db
    quote = await db.run_read(quotes.get, call.principal.workspace_id, body.quote_id)
    config = x402.rail(settings, quote.rail)
    tx_hash = x402.normalise_tx_hash(quote.rail, body.tx_hash)
    payer = x402.expected_payer(quote, _payer(quote.rail, body.payer))
    confirmation = await db.run_read(x402.prior_confirmation, quote=quote, tx_hash=tx_hash)
    if confirmation is None:
        verifier = call.services.chain_verifier(config)
        payment = await verifier.verify(
            ExpectedPayment(
                tx_hash=tx_hash,
                asset=quote.asset,
                recipient=quote.recipient,
                min_amount=quote.amount,
                reference=quote.reference_bytes,
                payer=payer,
                not_after=quote.expires_at,
            )
        )
        confirmation = await db.run_write(x402.record, quote=quote, payment=payment, now=utcnow())
    return PaymentConfirmation(
        quote_id=quote.id,
        product=quote.product,
        chain=quote.rail,
        network=quote.network,
        tx_hash=confirmation.tx_hash,
        payer=confirmation.payer,
        amount=str(confirmation.amount),
        entitlement=Entitlement.of(confirmation.entitlement),
        replayed=confirmation.replayed,
    )


# --- the 402 offer -------------------------------------------------------------------------


async def upgrade_offer(
    services: Services, workspace_id: str, refused: UpgradeRequired, *, resource: str
) -> UpgradeRequired:
    """The refusal, carrying how to pay: the product and its prices, the Stripe checkout
    route, and a quote per configured rail as x402 payment requirements."""
    settings = services.settings.billing
    product = products.product(settings, MULTI_INBOX)
    now = utcnow()
    offers: list[tuple[dict[str, Any], x402.RailConfig]] = []
    for config in x402.rails(settings).values():
        quote = await services.db.run_write(
            quotes.issue,
            workspace_id=workspace_id,
            product=product.id,
            terms=config.terms(product),
            payer=None,
            ttl=x402.ttl(settings),
            now=now,
        )
        entry = x402.requirements(
            quote, config, product, resource=resource, confirm_url=CONFIRM_PATH, now=now
        )
        offers.append((entry, config))
    accepts = [entry for entry, _ in offers]
    offer = {
        "upgrade": {
            "product": {
                "id": product.id,
                "name": product.name,
                "description": product.description,
                "price_cents": product.price_cents,
                "currency": product.currency,
                "usdc_amount": str(product.usdc_amount),
                "usdc_display": product.usdc_display,
            },
            "stripe": {
                "available": settings.stripe_secret_key is not None,
                "checkout_url": CHECKOUT_PATH,
            },
            "x402": {"quote_url": QUOTE_PATH, "confirm_url": CONFIRM_PATH},
        },
        "x402Version": x402.X402_VERSION,
        "accepts": accepts,
    }
    headers = {}
    if accepts:
        headers["payment-required"] = x402.payment_required_header(
            offers, resource=resource, error=refused.message
        )
    return UpgradeRequired(refused.message, offer=offer, headers=headers)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/billing/entitlements",
        handler=list_entitlements,
        summary="The workspace's plan and its entitlements",
        scope=Scope.INBOX_OR_ACCOUNT,
        response=Entitlements,
    ),
    Endpoint(
        method="POST",
        path=CHECKOUT_PATH,
        handler=create_checkout_session,
        summary="Start a Stripe Checkout for a product; the webhook grants it once paid",
        scope=Scope.ACCOUNT,
        body=CreateCheckoutSession,
        response=CheckoutSession,
        status=201,
        rate_limit=Policy.BILLING,
    ),
    Endpoint(
        method="POST",
        path=QUOTE_PATH,
        handler=create_quote,
        summary="Quote an on-chain USDC payment for a product (x402)",
        scope=Scope.ACCOUNT,
        body=CreateQuote,
        response=X402Quote,
        status=201,
        rate_limit=Policy.BILLING,
    ),
    Endpoint(
        method="GET",
        path="/v1/billing/x402/quotes",
        handler=list_open_quotes,
        summary="The workspace's unpaid quotes of the last day, newest first",
        description="What a payer that may have paid before a crash looks for on chain, "
        "before it pays again.",
        scope=Scope.ACCOUNT,
        response=QuoteList,
    ),
    Endpoint(
        method="POST",
        path=CONFIRM_PATH,
        handler=confirm_payment,
        summary="Confirm an x402 payment: verified on chain, then the product is granted",
        description="Idempotent: the same transaction for the same quote answers the same "
        "confirmation again (`replayed: true`).",
        scope=Scope.ACCOUNT,
        body=ConfirmPayment,
        response=PaymentConfirmation,
        rate_limit=Policy.BILLING,
    ),
]
