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
        """The workspace's plan and what it was granted. Either kind of key.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            `plan` (`free`, `multi_inbox`) and the entitlements, oldest first.

        Raises:
            AuthenticationError: the key is missing or refused.
        """
        return self._run(_entitlements(self._credentials), options)

    def checkout_session(
        self, *, product: str = MULTI_INBOX, **options: Unpack[RequestOptions]
    ) -> CheckoutSession:
        """Start a Stripe Checkout for a product; Stripe's webhook grants it once paid.

        Args:
            product: What to buy (`multi_inbox`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The session: send a person to its `url`. Nothing is granted before Stripe
            reports the payment to the server.

        Raises:
            BadRequestError: an unknown product (code "product_unknown").
            APIStatusError: 503 "billing_unavailable": Stripe is not configured on the
                server, or did not answer.
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
        """Quote an on-chain USDC payment (x402) for a product.

        Args:
            chain: The rail to pay on, `evm` or `solana` (code "chain_unsupported" when the
                server has not configured it).
            product: What to buy (`multi_inbox`).
            payer: When given, only a payment from this address or wallet confirms it.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            What to pay (`amount` base units of `token` to `recipient`), the `reference` the
            payment must carry, and the `expires_at` its block must precede.

        Raises:
            BadRequestError: an unconfigured chain, an unknown product, a malformed payer.
        """
        return self._run(
            _quote(self._credentials, chain=chain, product=product, payer=payer), options
        )

    def open_quotes(self, **options: Unpack[RequestOptions]) -> list[Quote]:
        """The workspace's unpaid quotes of the last day, newest first.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The quotes; a payer that may have paid before a crash looks for them on chain.

        Raises:
            PermissionDeniedError: this client's key is not an account key.
        """
        return list(self._run(_open_quotes(self._credentials), options).data)

    def confirm(
        self,
        quote_id: str,
        tx_hash: str,
        *,
        payer: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> PaymentConfirmation:
        """Confirm a payment of a quote: the server reads it from the chain, then grants.

        Args:
            quote_id: The quote paid.
            tx_hash: The payment: EVM 0x-hex, Solana the signature.
            payer: When given, the payment must come from this address.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The payment and the entitlement it granted; confirming the same transaction
            again answers the same, with `replayed` true.

        Raises:
            ConflictError: "transaction_unconfirmed" (retry later) or
                "transaction_already_used" (the transaction paid another quote).
            UnprocessableEntityError: the transaction does not pay the quote; `code` says
                how ("payment_underpaid", "payment_wrong_token", ...).
            BadRequestError: another workspace's or an unknown quote ("quote_invalid"), or a
                Stripe payment ("stripe_confirmation_refused": the webhook grants those).
        """
        return self._run(
            _confirm(self._credentials, quote_id=quote_id, tx_hash=tx_hash, payer=payer), options
        )


class AsyncBilling(AsyncResource):
    """What the workspace paid for, and how to pay: `d.billing`."""

    async def entitlements(self, **options: Unpack[RequestOptions]) -> Entitlements:
        """The workspace's plan and what it was granted. Either kind of key.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            `plan` (`free`, `multi_inbox`) and the entitlements, oldest first.

        Raises:
            AuthenticationError: the key is missing or refused.
        """
        return await self._run(_entitlements(self._credentials), options)

    async def checkout_session(
        self, *, product: str = MULTI_INBOX, **options: Unpack[RequestOptions]
    ) -> CheckoutSession:
        """Start a Stripe Checkout for a product; Stripe's webhook grants it once paid.

        Args:
            product: What to buy (`multi_inbox`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The session: send a person to its `url`. Nothing is granted before Stripe
            reports the payment to the server.

        Raises:
            BadRequestError: an unknown product (code "product_unknown").
            APIStatusError: 503 "billing_unavailable": Stripe is not configured on the
                server, or did not answer.
        """
        return await self._run(_checkout(self._credentials, product=product), options)

    async def quote(
        self,
        *,
        chain: str = "evm",
        product: str = MULTI_INBOX,
        payer: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Quote:
        """Quote an on-chain USDC payment (x402) for a product.

        Args:
            chain: The rail to pay on, `evm` or `solana` (code "chain_unsupported" when the
                server has not configured it).
            product: What to buy (`multi_inbox`).
            payer: When given, only a payment from this address or wallet confirms it.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            What to pay (`amount` base units of `token` to `recipient`), the `reference` the
            payment must carry, and the `expires_at` its block must precede.

        Raises:
            BadRequestError: an unconfigured chain, an unknown product, a malformed payer.
        """
        return await self._run(
            _quote(self._credentials, chain=chain, product=product, payer=payer), options
        )

    async def open_quotes(self, **options: Unpack[RequestOptions]) -> list[Quote]:
        """The workspace's unpaid quotes of the last day, newest first.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The quotes; a payer that may have paid before a crash looks for them on chain.

        Raises:
            PermissionDeniedError: this client's key is not an account key.
        """
        return list((await self._run(_open_quotes(self._credentials), options)).data)

    async def confirm(
        self,
        quote_id: str,
        tx_hash: str,
        *,
        payer: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> PaymentConfirmation:
        """Confirm a payment of a quote: the server reads it from the chain, then grants.

        Args:
            quote_id: The quote paid.
            tx_hash: The payment: EVM 0x-hex, Solana the signature.
            payer: When given, the payment must come from this address.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The payment and the entitlement it granted; confirming the same transaction
            again answers the same, with `replayed` true.

        Raises:
            ConflictError: "transaction_unconfirmed" (retry later) or
                "transaction_already_used" (the transaction paid another quote).
            UnprocessableEntityError: the transaction does not pay the quote; `code` says
                how ("payment_underpaid", "payment_wrong_token", ...).
            BadRequestError: another workspace's or an unknown quote ("quote_invalid"), or a
                Stripe payment ("stripe_confirmation_refused": the webhook grants those).
        """
        return await self._run(
            _confirm(self._credentials, quote_id=quote_id, tx_hash=tx_hash, payer=payer), options
        )
