"""Billing: entitlements, Stripe checkout sessions, x402 quotes and payment confirmations."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Entitlement:
    """A product granted to the workspace: `status` is `active` or `revoked`."""

    product: str
    status: str
    source: str  # stripe | x402
    source_ref: str  # the Checkout Session id, or the transaction hash
    granted_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class Entitlements:
    """The workspace's plan (`free`, `multi_inbox`) and what it was granted."""

    plan: str
    data: tuple[Entitlement, ...]


@attrs.frozen(kw_only=True)
class CheckoutSession:
    """A Stripe Checkout: send the buyer to `url`; Stripe's webhook grants the product."""

    id: str
    url: str
    product: str
    amount: int  # smallest unit of `currency`
    currency: str
    expires_at: datetime


@attrs.frozen(kw_only=True)
class Quote:
    """What to pay on chain for a product: `amount` base units of `token` to `recipient`,
    carrying `reference`, in a block before `expires_at`."""

    quote_id: str
    product: str
    chain: str  # evm | solana
    network: str
    chain_id: int | None = None
    rpc_url: str
    recipient: str
    token: str
    amount: str
    amount_display: str
    decimals: int
    reference: str
    payer: str | None = None
    expires_at: datetime
    paid_tx_hash: str | None = None
    confirm_url: str
    created_at: datetime

    @property
    def amount_units(self) -> int:
        return int(self.amount)


@attrs.frozen(kw_only=True)
class QuoteList:
    """The open quotes of a workspace."""

    data: tuple[Quote, ...]


@attrs.frozen(kw_only=True)
class PaymentConfirmation:
    """A verified payment and the entitlement it granted (`replayed`: confirmed before)."""

    quote_id: str
    product: str
    chain: str
    network: str
    tx_hash: str
    payer: str
    amount: str
    entitlement: Entitlement
    replayed: bool
