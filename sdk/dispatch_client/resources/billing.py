"""The billing resource: entitlements, Stripe checkout, and x402 quotes and confirmations.
Every call but `entitlements` needs an account key. Paying by itself on chain is
`dispatch_client.autopay` (the `autopay` extra)."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._core import Call, Credentials, Request, body, decoded, send
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.types.billing import (
    CheckoutSession,
    Entitlements,
    PaymentConfirmation,
    Quote,
    QuoteList,
)

MULTI_INBOX = "multi_inbox"


def _entitlements(credentials: Credentials) -> Call[Entitlements]:
    request = Request(method="GET", path="/v1/billing/entitlements")
    return decoded((yield from send(credentials, request)), Entitlements)


def _checkout(credentials: Credentials, *, product: str) -> Call[CheckoutSession]:
    request = Request(
        method="POST",
        path="/v1/billing/checkout/session",
        json=body(product=product),
        idempotent=True,
    )
    return decoded((yield from send(credentials, request)), CheckoutSession)


def _quote(credentials: Credentials, *, chain: str, product: str, payer: str | None) -> Call[Quote]:
    request = Request(
        method="POST",
        path="/v1/billing/x402/quote",
        json=body(chain=chain, product=product, payer=payer),
    )
    return decoded((yield from send(credentials, request)), Quote)


def _open_quotes(credentials: Credentials) -> Call[QuoteList]:
    request = Request(method="GET", path="/v1/billing/x402/quotes")
    return decoded((yield from send(credentials, request)), QuoteList)


def _confirm(
    credentials: Credentials, *, quote_id: str, tx_hash: str, payer: str | None
) -> Call[PaymentConfirmation]:
    request = Request(
        method="POST",
        path="/v1/billing/payments/confirm",
        json=body(quote_id=quote_id, tx_hash=tx_hash, payer=payer),
        idempotent=True,  # confirming the same transaction again answers the same
    )
    return decoded((yield from send(credentials, request)), PaymentConfirmation)


class Billing(SyncResource):
    """What the workspace paid for, and how to pay: `d.billing`."""

    def entitlements(self, **options: Unpack[RequestOptions]) -> Entitlements:
        """The workspace's plan and its entitlements (either kind of key)."""
        return self._run(_entitlements(self._credentials), options)

    def checkout_session(
        self, *, product: str = MULTI_INBOX, **options: Unpack[RequestOptions]
    ) -> CheckoutSession:
        """Start a Stripe Checkout for `product`: send a person to `session.url`. The product
        is granted when Stripe's webhook reports the payment, not before.

        Raises:
            ServiceUnavailableError-like `APIStatusError` (503 `billing_unavailable`): Stripe
                is not configured on the server or did not answer.
        """
        return self._run(_checkout(self._credentials, product=product), options)

    def quote(
        self,
        *,
        chain: str = "evm",
        product: str = MULTI_INBOX,
        payer: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Quote:
        """Quote an on-chain USDC payment (x402) for `product` on `chain` (`evm`, `solana`).

        Args:
            chain: The rail to pay on; the server says which it has (`400
                chain_unsupported`).
            product: What to buy.
            payer: When given, only a payment from this address confirms the quote.
        """
        call = _quote(self._credentials, chain=chain, product=product, payer=payer)
        return self._run(call, options)

    def open_quotes(self, **options: Unpack[RequestOptions]) -> list[Quote]:
        """The workspace's unpaid quotes of the last day, newest first."""
        return list(self._run(_open_quotes(self._credentials), options).data)

    def confirm(
        self,
        quote_id: str,
        tx_hash: str,
        *,
        payer: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> PaymentConfirmation:
        """Confirm a payment of the quote: the server reads `tx_hash` from the chain and
        grants the product. Confirming the same transaction again answers the same.

        Raises:
            ConflictError: `transaction_unconfirmed` (retry later) or
                `transaction_already_used` (the transaction paid another quote).
            UnprocessableEntityError: the transaction does not pay the quote (`code` says
                how: `payment_underpaid`, `payment_wrong_token`, ...).
        """
        call = _confirm(self._credentials, quote_id=quote_id, tx_hash=tx_hash, payer=payer)
        return self._run(call, options)


class AsyncBilling(AsyncResource):
    """What the workspace paid for, and how to pay: `d.billing`."""

    async def entitlements(self, **options: Unpack[RequestOptions]) -> Entitlements:
        """The workspace's plan and its entitlements (either kind of key)."""
        return await self._run(_entitlements(self._credentials), options)

    async def checkout_session(
        self, *, product: str = MULTI_INBOX, **options: Unpack[RequestOptions]
    ) -> CheckoutSession:
        """Start a Stripe Checkout for `product` (see `Billing.checkout_session`)."""
        return await self._run(_checkout(self._credentials, product=product), options)

    async def quote(
        self,
        *,
        chain: str = "evm",
        product: str = MULTI_INBOX,
        payer: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Quote:
        """Quote an on-chain USDC payment (see `Billing.quote`)."""
        call = _quote(self._credentials, chain=chain, product=product, payer=payer)
        return await self._run(call, options)

    async def open_quotes(self, **options: Unpack[RequestOptions]) -> list[Quote]:
        """The workspace's unpaid quotes of the last day, newest first."""
        return list((await self._run(_open_quotes(self._credentials), options)).data)

    async def confirm(
        self,
        quote_id: str,
        tx_hash: str,
        *,
        payer: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> PaymentConfirmation:
        """Confirm a payment of the quote (see `Billing.confirm`)."""
        call = _confirm(self._credentials, quote_id=quote_id, tx_hash=tx_hash, payer=payer)
        return await self._run(call, options)
