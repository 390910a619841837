"""x402 on-chain payments: the rails this server takes, their payment requirements as x402
clients read them, and recording a verified payment (ledger, quote, entitlement, event) in
one transaction.

Settlement is a direct transfer by the payer, not a facilitator: the payer sends the quoted
USDC amount to `payTo` with the quote's reference in the transaction, then posts the
transaction hash to `POST /v1/billing/payments/confirm`, which reads it from the chain (see
`billing.evm`, `billing.solana`). The scheme is therefore named `reference-transfer`, not
x402's `exact` (an EIP-3009 authorization settled by a facilitator), so that an x402 client
that only speaks `exact` does not sign an authorization this server would not settle.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa

from dispatch_server.auth.wallets import b58decode, b58encode
from dispatch_server.billing import entitlements, events, quotes
from dispatch_server.billing.chains import VerifiedPayment
from dispatch_server.billing.products import Product
from dispatch_server.billing.quotes import Quote, Rail, Terms
from dispatch_server.config.settings import USDC_DECIMALS, Billing
from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, PaymentRefused
from dispatch_server.core.ids import new_id
from dispatch_server.db import tables as t

SCHEME = "reference-transfer"
X402_VERSION = 1
# CAIP-2 ids of the networks x402 v2 names by them; an unknown Solana name keeps its own.
SOLANA_CAIP2 = {
    "solana": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    "solana-devnet": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
}
_VERIFIED = t.billing_transaction_verifications.c


@attrs.frozen(kw_only=True)
class RailConfig:
    rail: Rail
    network: str
    rpc_url: str  # what the server reads the chain with
    public_rpc_url: str  # what quotes tell payers to use
    asset: str
    recipient: str
    chain_id: int | None  # EVM only
    confirmations: int  # EVM: blocks; Solana: finalized
    decimals: int = USDC_DECIMALS

    def terms(self, product: Product) -> Terms:
        return Terms(
            rail=self.rail,
            network=self.network,
            asset=self.asset,
            recipient=self.recipient,
            amount=product.usdc_amount,
        )

    @property
    def caip2(self) -> str:
        if self.rail == "evm":
            return f"eip155:{self.chain_id}"
        return SOLANA_CAIP2.get(self.network, f"solana:{self.network}")


def rails(settings: Billing) -> dict[Rail, RailConfig]:
    """The configured rails, EVM first."""
    found: dict[Rail, RailConfig] = {}
    if settings.evm_enabled:
        assert settings.evm_rpc_url and settings.evm_token and settings.evm_recipient
        found["evm"] = RailConfig(
            rail="evm",
            network=settings.evm_network,
            rpc_url=settings.evm_rpc_url,
            public_rpc_url=settings.evm_public_rpc_url or settings.evm_rpc_url,
            asset=settings.evm_token,
            recipient=settings.evm_recipient,
            chain_id=settings.evm_chain_id,
            confirmations=settings.evm_confirmations,
        )
    if settings.solana_enabled:
        assert settings.solana_rpc_url and settings.solana_mint and settings.solana_recipient
        found["solana"] = RailConfig(
            rail="solana",
            network=settings.solana_network,
            rpc_url=settings.solana_rpc_url,
            public_rpc_url=settings.solana_public_rpc_url or settings.solana_rpc_url,
            asset=settings.solana_mint,
            recipient=settings.solana_recipient,
            chain_id=None,
            confirmations=1,
        )
    return found


def rail(settings: Billing, name: str) -> RailConfig:
    """The configured rail called `name` (`evm`, `solana`), or `400 chain_unsupported`."""
    found = rails(settings)
    if name not in found:
        configured = ", ".join(found) or "none"
        raise DomainError(
            f"chain {name!r} is not configured on this server (configured: {configured})",
            code=ErrorCode.CHAIN_UNSUPPORTED,
            param="chain",
        )
    return found[name]


def ttl(settings: Billing) -> timedelta:
    return timedelta(seconds=settings.quote_ttl_seconds)


def requirements(
    quote: Quote,
    config: RailConfig,
    product: Product,
    *,
    resource: str,
    confirm_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The quote as an x402 (v1) `PaymentRequirements` entry of `accepts`."""
    return {
        "scheme": SCHEME,
        "network": config.network,
        "maxAmountRequired": str(quote.amount),
        "resource": resource,
        "description": product.description,
        "mimeType": "application/json",
        "payTo": quote.recipient,
        "maxTimeoutSeconds": max(0, int((quote.expires_at - now).total_seconds())),
        "asset": quote.asset,
        "extra": {
            "name": "USDC",
            "decimals": config.decimals,
            "product": product.id,
            "quote_id": quote.id,
            "reference": reference_text(quote),
            "expires_at": quote.expires_at.isoformat().replace("+00:00", "Z"),
            "rpc_url": config.public_rpc_url,
            "chain_id": config.chain_id,
            "confirm_url": confirm_url,
        },
    }


def payment_required_header(
    offers: list[tuple[dict[str, Any], RailConfig]], *, resource: str, error: str
) -> str:
    """The x402 v2 `PAYMENT-REQUIRED` header: the same offers (v1 entries with their rails),
    base64 JSON, with CAIP-2 networks."""
    v2 = [
        {
            "scheme": entry["scheme"],
            "network": config.caip2,
            "amount": entry["maxAmountRequired"],
            "asset": entry["asset"],
            "payTo": entry["payTo"],
            "maxTimeoutSeconds": entry["maxTimeoutSeconds"],
            "extra": entry["extra"],
        }
        for entry, config in offers
    ]
    document = {
        "x402Version": 2,
        "error": error,
        "resource": {"url": resource, "description": error, "mimeType": "application/json"},
        "accepts": v2,
    }
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def reference_text(quote: Quote) -> str:
    """The reference as the rail writes it: EVM 0x-hex, Solana a base58 public key."""
    if quote.rail == "solana":
        return b58encode(quote.reference_bytes)
    return "0x" + quote.reference


def normalise_tx_hash(rail: str, tx_hash: str) -> str:
    """The form the ledger keys transactions by, or `400` naming `tx_hash`."""
    value = tx_hash.strip()
    if rail == "evm":
        lowered = value.lower()
        if len(lowered) != 66 or not lowered.startswith("0x") or not _is_hex(lowered[2:]):
            raise InvalidInput("tx_hash must be 0x and 64 hex digits", param="tx_hash")
        return lowered
    try:
        decoded = b58decode(value) if len(value) <= 100 else b""
    except ValueError:
        decoded = b""
    if len(decoded) != 64:
        raise InvalidInput("tx_hash must be a base58 transaction signature", param="tx_hash")
    return value


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def expected_payer(quote: Quote, asked: str | None) -> str | None:
    """Who must have paid: the quote's payer when it is bound to one (a confirmation cannot
    name another), else the one the confirmation names, if any."""
    if quote.payer is not None and asked is not None and asked != quote.payer:
        raise PaymentRefused(
            ErrorCode.PAYMENT_WRONG_PAYER,
            f"the quote is bound to payer {quote.payer}",
            param="payer",
        )
    return quote.payer or asked


@attrs.frozen(kw_only=True)
class Confirmation:
    quote: Quote
    tx_hash: str
    payer: str
    amount: int
    entitlement: entitlements.Entitlement
    replayed: bool  # this transaction had confirmed this quote before


def prior_confirmation(conn: sa.Connection, *, quote: Quote, tx_hash: str) -> Confirmation | None:
    """The confirmation this transaction already made for this quote; a transaction used for
    another quote is `409 transaction_already_used`. None: the transaction is new here."""
    row = conn.execute(
        sa.select(t.billing_transaction_verifications).where(
            _VERIFIED.chain == quote.network, _VERIFIED.tx_hash == tx_hash
        )
    ).first()
    if row is None:
        return None
    if row.quote_id != quote.id:
        raise PaymentRefused(
            ErrorCode.TRANSACTION_ALREADY_USED,
            "this transaction already paid another quote",
            param="tx_hash",
        )
    granted = entitlements.list_entitlements(conn, quote.workspace_id)
    entitlement = next(e for e in granted if e.product == quote.product)
    return Confirmation(
        quote=quote,
        tx_hash=tx_hash,
        payer=row.payer,
        amount=row.amount,
        entitlement=entitlement,
        replayed=True,
    )


def record(
    conn: sa.Connection, *, quote: Quote, payment: VerifiedPayment, now: datetime
) -> Confirmation:
    """Enter the verified payment in the ledger and grant the quote's product, at once."""
    prior = prior_confirmation(conn, quote=quote, tx_hash=payment.tx_hash)
    if prior is not None:
        return prior
    try:
        with conn.begin_nested():
            conn.execute(
                sa.insert(t.billing_transaction_verifications).values(
                    id=new_id(),
                    chain=quote.network,
                    tx_hash=payment.tx_hash,
                    workspace_id=quote.workspace_id,
                    quote_id=quote.id,
                    payer=payment.payer,
                    amount=payment.amount,
                    block_time=payment.block_time,
                    verified_at=now,
                )
            )
    except sa.exc.IntegrityError:
        # Another confirmation of the same transaction committed first.
        prior = prior_confirmation(conn, quote=quote, tx_hash=payment.tx_hash)
        if prior is None:
            raise
        return prior
    quotes.mark_paid(conn, quote.id, payment.tx_hash)
    entitlement = entitlements.grant(
        conn,
        workspace_id=quote.workspace_id,
        product=quote.product,
        source="x402",
        source_ref=payment.tx_hash,
        now=now,
    )
    events.record(
        conn,
        provider="x402",
        event_id=f"{quote.network}:{payment.tx_hash}",
        event_type="payment.confirmed",
        workspace_id=quote.workspace_id,
        product=quote.product,
        outcome="granted",
        reason=None,
        payload={
            "quote_id": quote.id,
            "network": quote.network,
            "tx_hash": payment.tx_hash,
            "payer": payment.payer,
            "amount": str(payment.amount),
        },
        now=now,
    )
    return Confirmation(
        quote=quote,
        tx_hash=payment.tx_hash,
        payer=payment.payer,
        amount=payment.amount,
        entitlement=entitlement,
        replayed=False,
    )
