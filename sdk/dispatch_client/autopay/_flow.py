"""The autopay flow: find an earlier payment, or quote, pay and confirm; sync and async.

The chain is the record of what was paid. Before paying, the flow lists the workspace's open
quotes and asks the chain whether this wallet already paid one of them (a process that
crashed after paying, a create retried after a timeout); if so it confirms that payment
instead of paying again. On EVM it first waits for the wallet's pending transactions, so a
payment still in the mempool is not taken for no payment.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

import attrs

from dispatch_client._errors import APIStatusError, AutopayError, InvalidArgumentError
from dispatch_client.types.billing import PaymentConfirmation, Quote

if TYPE_CHECKING:
    from dispatch_client.resources.billing import AsyncBilling, Billing

Chain = Literal["evm", "solana"]
# Answers to a confirmation that mean "not yet": the transaction is still on its way.
_NOT_YET = {"transaction_unconfirmed", "transaction_not_found"}
_MIN_QUOTE_SECONDS_LEFT = 60.0


def _usdc(value: str | int | Decimal) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidArgumentError("max_amount must be a USDC amount", param="max_amount") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidArgumentError("max_amount must be above 0", param="max_amount")
    return amount


@attrs.frozen(kw_only=True)
class Autopay:
    """How an agent pays for an upgrade by itself.

    Args:
        max_amount: The most it pays, in USDC (`"10"`, `Decimal("9.5")`); a dearer quote is
            refused before anything is signed.
        evm_private_key: Pay on EVM with this key (hex). The key never leaves the process.
        solana_secret_key: Pay on Solana with this keypair (64 bytes, base58, or the
            solana-keygen JSON list).
        rpc_url: The chain's RPC endpoint; None: the one the quote names.
        confirm_timeout: Seconds to wait for the payment to be confirmed.
        lookback_blocks: EVM: how far back to look for an earlier payment.
    """

    max_amount: Decimal = attrs.field(converter=_usdc)
    evm_private_key: str | None = attrs.field(default=None, repr=False)
    solana_secret_key: Any = attrs.field(default=None, repr=False)
    rpc_url: str | None = None
    confirm_timeout: float = 180.0
    lookback_blocks: int = 10_000

    def __attrs_post_init__(self) -> None:
        if (self.evm_private_key is None) == (self.solana_secret_key is None):
            raise InvalidArgumentError(
                "give one of evm_private_key and solana_secret_key", param="evm_private_key"
            )

    @property
    def chain(self) -> Chain:
        return "evm" if self.evm_private_key is not None else "solana"

    def _payer(self) -> _Payer:
        if self.chain == "evm":
            return _EvmPayer(self)
        return _SolanaPayer(self)


def _check_price(quote: Quote, max_amount: Decimal) -> None:
    price = Decimal(quote.amount_units) / (Decimal(10) ** quote.decimals)
    if price > max_amount:
        raise AutopayError(
            f"the upgrade costs {price} USDC, above max_amount {max_amount}; nothing was paid"
        )
    left = (quote.expires_at - _now(quote)).total_seconds()
    if left < _MIN_QUOTE_SECONDS_LEFT:
        raise AutopayError("the quote expires too soon to pay it; nothing was paid")


def _now(quote: Quote) -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _is_candidate(quote: Quote, chain: Chain, address: str) -> bool:
    """A quote this wallet may have paid: on its chain, bound to it or to no payer. EVM
    addresses compare in any case; Solana's base58 keys are case-sensitive."""
    if quote.chain != chain or quote.payer is None:
        return quote.chain == chain
    if chain == "evm":
        return quote.payer.lower() == address.lower()
    return quote.payer == address


class _Payer:
    """One rail's wallet operations, sync and async."""

    chain: Chain

    def __init__(self, autopay: Autopay) -> None:
        self.autopay = autopay

    def rpc(self, quote: Quote) -> str:
        return self.autopay.rpc_url or quote.rpc_url

    @property
    def address(self) -> str:
        raise NotImplementedError

    def settle_pending(self, quote: Quote, deadline: float) -> None:
        """Wait until none of the wallet's transactions is pending."""

    async def settle_pending_async(self, quote: Quote, deadline: float) -> None:
        """Wait until none of the wallet's transactions is pending."""

    def find(self, quote: Quote) -> str | None:
        raise NotImplementedError

    async def find_async(self, quote: Quote) -> str | None:
        raise NotImplementedError

    def pay(self, quote: Quote) -> str:
        raise NotImplementedError

    async def pay_async(self, quote: Quote) -> str:
        raise NotImplementedError


class _EvmPayer(_Payer):
    chain: Chain = "evm"

    def __init__(self, autopay: Autopay) -> None:
        super().__init__(autopay)
        from dispatch_client.autopay import evm

        self.evm = evm
        assert autopay.evm_private_key is not None
        self.key = autopay.evm_private_key
        self._address = evm.address_of(self.key)

    @property
    def address(self) -> str:
        return self._address

    def _sync(self, quote: Quote) -> Any:
        assert quote.chain_id is not None
        return self.evm.EvmPayer(self.rpc(quote), quote.chain_id)

    def _async(self, quote: Quote) -> Any:
        assert quote.chain_id is not None
        return self.evm.AsyncEvmPayer(self.rpc(quote), quote.chain_id)

    def settle_pending(self, quote: Quote, deadline: float) -> None:
        with self._sync(quote) as wallet:
            while wallet.has_pending(self.address):
                if time.monotonic() > deadline:
                    raise AutopayError("the wallet's pending transactions were not mined in time")
                time.sleep(1.0)

    async def settle_pending_async(self, quote: Quote, deadline: float) -> None:
        async with self._async(quote) as wallet:
            while await wallet.has_pending(self.address):
                if time.monotonic() > deadline:
                    raise AutopayError("the wallet's pending transactions were not mined in time")
                await asyncio.sleep(1.0)

    def _find_args(self, quote: Quote, latest: int) -> dict[str, Any]:
        return {
            "token": quote.token,
            "payer": self.address,
            "recipient": quote.recipient,
            "references": [bytes.fromhex(quote.reference.removeprefix("0x"))],
            "from_block": max(0, latest - self.autopay.lookback_blocks),
        }

    def find(self, quote: Quote) -> str | None:
        with self._sync(quote) as wallet:
            latest = wallet.block_number()
            found: str | None = wallet.find_payment(**self._find_args(quote, latest))
            return found

    async def find_async(self, quote: Quote) -> str | None:
        async with self._async(quote) as wallet:
            latest = await wallet.block_number()
            found: str | None = await wallet.find_payment(**self._find_args(quote, latest))
            return found

    def _pay_args(self, quote: Quote) -> tuple[Any, ...]:
        reference = bytes.fromhex(quote.reference.removeprefix("0x"))
        return (self.key, quote.token, quote.recipient, quote.amount_units, reference)

    def pay(self, quote: Quote) -> str:
        with self._sync(quote) as wallet:
            tx: str = wallet.pay(*self._pay_args(quote))
            return tx

    async def pay_async(self, quote: Quote) -> str:
        async with self._async(quote) as wallet:
            tx: str = await wallet.pay(*self._pay_args(quote))
            return tx


class _SolanaPayer(_Payer):
    chain: Chain = "solana"

    def __init__(self, autopay: Autopay) -> None:
        super().__init__(autopay)
        from dispatch_client.autopay import solana

        self.solana = solana
        self.secret = autopay.solana_secret_key
        self._address = solana.address_of(self.secret)

    @property
    def address(self) -> str:
        return self._address

    def find(self, quote: Quote) -> str | None:
        found: str | None = self.solana.find_payment(self.rpc(quote), [quote.reference])
        return found

    async def find_async(self, quote: Quote) -> str | None:
        found: str | None = await self.solana.find_payment_async(self.rpc(quote), [quote.reference])
        return found

    def _pay_args(self, quote: Quote) -> tuple[Any, ...]:
        return (
            self.secret,
            quote.token,
            quote.recipient,
            quote.amount_units,
            quote.decimals,
            quote.reference,
        )

    def pay(self, quote: Quote) -> str:
        signature: str = self.solana.pay(self.rpc(quote), *self._pay_args(quote))
        return signature

    async def pay_async(self, quote: Quote) -> str:
        signature: str = await self.solana.pay_async(self.rpc(quote), *self._pay_args(quote))
        return signature


def _retry_delay(error: APIStatusError) -> float | None:
    """Seconds to wait before confirming again, or None when waiting will not help."""
    if error.code not in _NOT_YET:
        return None
    return 1.0


# -- sync ------------------------------------------------------------------------------------


def pay_for_upgrade(billing: Billing, autopay: Autopay) -> PaymentConfirmation:
    """Confirm an earlier payment of this wallet, or pay a new quote and confirm it."""
    payer = autopay._payer()
    deadline = time.monotonic() + autopay.confirm_timeout
    earlier = [q for q in billing.open_quotes() if _is_candidate(q, payer.chain, payer.address)]
    if earlier:
        payer.settle_pending(earlier[0], deadline)
        for quote in earlier:
            tx = payer.find(quote)
            if tx is not None:
                return _confirm(billing, quote, tx, deadline)
    quote = billing.quote(chain=payer.chain, payer=payer.address)
    _check_price(quote, autopay.max_amount)
    tx = payer.pay(quote)
    return _confirm(billing, quote, tx, deadline)


def _confirm(billing: Billing, quote: Quote, tx: str, deadline: float) -> PaymentConfirmation:
    while True:
        try:
            return billing.confirm(quote.quote_id, tx)
        except APIStatusError as error:
            delay = _retry_delay(error)
            if delay is None:
                raise AutopayError(
                    f"the server refused the payment: {error}", tx_hash=tx
                ) from error
            if time.monotonic() + delay > deadline:
                raise AutopayError("the payment was not confirmed in time", tx_hash=tx) from error
            time.sleep(delay)


# -- async -----------------------------------------------------------------------------------


async def pay_for_upgrade_async(billing: AsyncBilling, autopay: Autopay) -> PaymentConfirmation:
    """`pay_for_upgrade`, async."""
    payer = autopay._payer()
    deadline = time.monotonic() + autopay.confirm_timeout
    quotes = await billing.open_quotes()
    earlier = [q for q in quotes if _is_candidate(q, payer.chain, payer.address)]
    if earlier:
        await payer.settle_pending_async(earlier[0], deadline)
        for quote in earlier:
            tx = await payer.find_async(quote)
            if tx is not None:
                return await _confirm_async(billing, quote, tx, deadline)
    quote = await billing.quote(chain=payer.chain, payer=payer.address)
    _check_price(quote, autopay.max_amount)
    tx = await payer.pay_async(quote)
    return await _confirm_async(billing, quote, tx, deadline)


async def _confirm_async(
    billing: AsyncBilling, quote: Quote, tx: str, deadline: float
) -> PaymentConfirmation:
    while True:
        try:
            return await billing.confirm(quote.quote_id, tx)
        except APIStatusError as error:
            delay = _retry_delay(error)
            if delay is None:
                raise AutopayError(
                    f"the server refused the payment: {error}", tx_hash=tx
                ) from error
            if time.monotonic() + delay > deadline:
                raise AutopayError("the payment was not confirmed in time", tx_hash=tx) from error
            await asyncio.sleep(delay)
