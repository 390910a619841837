"""The autopay flow: find an earlier payment, or quote, pay and confirm; sync and async.

The chain is the record of what was paid. Before paying, the flow lists the workspace's open
quotes bound to this wallet (autopay only ever pays a quote bound to its own address) and
asks the chain whether one of them was paid already, by a process that crashed after paying
or a create retried after a timeout; if so it confirms that payment instead of paying again.
What may still be in flight is waited for first: on EVM the wallet's pending transactions;
on Solana, which has no such count, a quote taken less than `SOLANA_IN_FLIGHT_SECONDS` ago
(a transaction's blockhash expires after about 60 to 90 seconds, so by then a payment sent
for it has landed or never will).

Within one process, one wallet pays for one upgrade at a time (a lock per wallet), and a
create that waited for the lock tries again before it pays: the other one may have paid.
Two processes sharing one wallet are not serialised; give each agent process its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from dispatch_client._errors import (
    APIStatusError,
    AutopayError,
    InvalidArgumentError,
    PaymentRequiredError,
)
from dispatch_client.types.billing import PaymentConfirmation, Quote

if TYPE_CHECKING:
    from dispatch_client.resources.billing import AsyncBilling, Billing

T = TypeVar("T")
Chain = Literal["evm", "solana"]
# Answers to a confirmation that mean "not yet": the transaction is still on its way.
_NOT_YET = {"transaction_unconfirmed", "transaction_not_found"}
_MIN_QUOTE_SECONDS_LEFT = 60.0
SOLANA_IN_FLIGHT_SECONDS = 150.0
_LOOKBACK_MARGIN_SECONDS = 120  # clocks of the server and the chain differ a little


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
    """

    max_amount: Decimal = attrs.field(converter=_usdc)
    evm_private_key: str | None = attrs.field(default=None, repr=False)
    solana_secret_key: Any = attrs.field(default=None, repr=False)
    rpc_url: str | None = None
    confirm_timeout: float = 180.0

    def __attrs_post_init__(self) -> None:
        if (self.evm_private_key is None) == (self.solana_secret_key is None):
            raise InvalidArgumentError(
                "give one of evm_private_key and solana_secret_key", param="evm_private_key"
            )

    @property
    def chain(self) -> Chain:
        return "evm" if self.evm_private_key is not None else "solana"

    def _payer(self) -> _Payer:
        return _EvmPayer(self) if self.chain == "evm" else _SolanaPayer(self)


def _check_price(quote: Quote, max_amount: Decimal, decimals: int) -> None:
    """Refuse a quote dearer than `max_amount`, priced with the token's own `decimals` (not
    the server's word for them), or too close to its expiry to be paid in time."""
    price = Decimal(quote.amount_units) / (Decimal(10) ** decimals)
    if price > max_amount:
        raise AutopayError(
            f"the upgrade costs {price} USDC, above max_amount {max_amount}; nothing was paid"
        )
    left = (quote.expires_at - datetime.now(UTC)).total_seconds()
    if left < _MIN_QUOTE_SECONDS_LEFT:
        raise AutopayError("the quote expires too soon to pay it; nothing was paid")


def _bound_to(quote: Quote, chain: Chain, address: str) -> bool:
    """A quote this wallet's autopay took: on its chain, bound to its address (EVM addresses
    compare in any case; Solana's base58 keys are case-sensitive)."""
    if quote.chain != chain or quote.payer is None:
        return False
    if chain == "evm":
        return quote.payer.lower() == address.lower()
    return quote.payer == address


# -- the rails ---------------------------------------------------------------------------


class _Payer:
    """One rail's wallet operations, sync and async."""

    chain: Chain
    address: str

    def __init__(self, autopay: Autopay) -> None:
        self.autopay = autopay

    def rpc(self, quote: Quote) -> str:
        return self.autopay.rpc_url or quote.rpc_url

    def find_earlier(self, quotes: list[Quote], deadline: float) -> tuple[Quote, str] | None:
        """The quote among `quotes` this wallet paid, with the transaction; None if none."""
        raise NotImplementedError

    async def find_earlier_async(
        self, quotes: list[Quote], deadline: float
    ) -> tuple[Quote, str] | None:
        raise NotImplementedError

    def decimals(self, quote: Quote) -> int:
        """The decimals of the quote's token, as the chain says."""
        raise NotImplementedError

    async def decimals_async(self, quote: Quote) -> int:
        raise NotImplementedError

    def pay(self, quote: Quote) -> str:
        """Send the quote's payment; its transaction hash or signature."""
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
        self.address = evm.address_of(self.key)

    def _wallet(self, quote: Quote) -> Any:
        assert quote.chain_id is not None
        return self.evm.EvmPayer(self.rpc(quote), quote.chain_id)

    def _async_wallet(self, quote: Quote) -> Any:
        assert quote.chain_id is not None
        return self.evm.AsyncEvmPayer(self.rpc(quote), quote.chain_id)

    def _match_args(self, quotes: list[Quote], from_block: int) -> dict[str, Any]:
        return {
            "token": quotes[0].token,
            "payer": self.address,
            "recipient": quotes[0].recipient,
            "references": [_reference(q) for q in quotes],
            "from_block": from_block,
        }

    def find_earlier(self, quotes: list[Quote], deadline: float) -> tuple[Quote, str] | None:
        with self._wallet(quotes[0]) as wallet:
            while wallet.has_pending(self.address):
                _check_deadline(deadline, "the wallet's pending transactions were not mined")
                time.sleep(1.0)
            from_block = wallet.block_at(_oldest(quotes) - _LOOKBACK_MARGIN_SECONDS)
            found = wallet.match_payment(**self._match_args(quotes, from_block))
        return _quote_of(quotes, found)

    async def find_earlier_async(
        self, quotes: list[Quote], deadline: float
    ) -> tuple[Quote, str] | None:
        async with self._async_wallet(quotes[0]) as wallet:
            while await wallet.has_pending(self.address):
                _check_deadline(deadline, "the wallet's pending transactions were not mined")
                await asyncio.sleep(1.0)
            from_block = await wallet.block_at(_oldest(quotes) - _LOOKBACK_MARGIN_SECONDS)
            found = await wallet.match_payment(**self._match_args(quotes, from_block))
        return _quote_of(quotes, found)

    def decimals(self, quote: Quote) -> int:
        with self._wallet(quote) as wallet:
            found: int = wallet.decimals(quote.token)
            return found

    async def decimals_async(self, quote: Quote) -> int:
        async with self._async_wallet(quote) as wallet:
            found: int = await wallet.decimals(quote.token)
            return found

    def _pay_args(self, quote: Quote) -> tuple[Any, ...]:
        return (self.key, quote.token, quote.recipient, quote.amount_units, _reference(quote))

    def pay(self, quote: Quote) -> str:
        with self._wallet(quote) as wallet:
            tx: str = wallet.pay(*self._pay_args(quote))
            return tx

    async def pay_async(self, quote: Quote) -> str:
        async with self._async_wallet(quote) as wallet:
            tx: str = await wallet.pay(*self._pay_args(quote))
            return tx


class _SolanaPayer(_Payer):
    chain: Chain = "solana"

    def __init__(self, autopay: Autopay) -> None:
        super().__init__(autopay)
        from dispatch_client.autopay import solana

        self.solana = solana
        self.secret = autopay.solana_secret_key
        self.address = solana.address_of(self.secret)

    def find_earlier(self, quotes: list[Quote], deadline: float) -> tuple[Quote, str] | None:
        for attempt in range(2):
            for quote in quotes:
                signature = self.solana.find_payment(self.rpc(quote), [quote.reference])
                if signature is not None:
                    return quote, signature
            wait = _in_flight_for(quotes)
            if attempt or wait <= 0:
                return None
            _check_deadline(deadline - wait, "a payment may still be in flight")
            time.sleep(wait)
        return None

    async def find_earlier_async(
        self, quotes: list[Quote], deadline: float
    ) -> tuple[Quote, str] | None:
        for attempt in range(2):
            for quote in quotes:
                rpc = self.rpc(quote)
                signature = await self.solana.find_payment_async(rpc, [quote.reference])
                if signature is not None:
                    return quote, signature
            wait = _in_flight_for(quotes)
            if attempt or wait <= 0:
                return None
            _check_deadline(deadline - wait, "a payment may still be in flight")
            await asyncio.sleep(wait)
        return None

    def decimals(self, quote: Quote) -> int:
        return quote.decimals  # transferChecked makes the chain check them

    async def decimals_async(self, quote: Quote) -> int:
        return quote.decimals

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


def _reference(quote: Quote) -> bytes:
    return bytes.fromhex(quote.reference.removeprefix("0x"))


def _oldest(quotes: list[Quote]) -> int:
    return int(min(q.created_at for q in quotes).timestamp())


def _quote_of(quotes: list[Quote], found: tuple[str, bytes] | None) -> tuple[Quote, str] | None:
    if found is None:
        return None
    tx, reference = found
    return next((q, tx) for q in quotes if _reference(q) == reference)


def _in_flight_for(quotes: list[Quote]) -> float:
    """Seconds until no payment sent for these quotes can still land (Solana)."""
    newest = max(q.created_at for q in quotes)
    return SOLANA_IN_FLIGHT_SECONDS - (datetime.now(UTC) - newest).total_seconds()


def _check_deadline(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise AutopayError(f"{what} within confirm_timeout; nothing more was paid")


def _retry_delay(error: APIStatusError) -> float | None:
    """Seconds to wait before confirming again, or None when waiting will not help."""
    return 1.0 if error.code in _NOT_YET else None


# -- one upgrade per wallet at a time ------------------------------------------------------

_THREAD_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_ASYNC_LOCKS: dict[tuple[int, str, str], asyncio.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def _wallet_lock(payer: _Payer) -> Iterator[None]:
    with _LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault((payer.chain, payer.address), threading.Lock())
    with lock:
        yield


def _async_wallet_lock(payer: _Payer) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), payer.chain, payer.address)
    with _LOCKS_GUARD:
        return _ASYNC_LOCKS.setdefault(key, asyncio.Lock())


# -- sync ------------------------------------------------------------------------------------


def create_paying(create: Callable[[], T], billing: Billing, autopay: Autopay) -> T:
    """`create()`, paying the upgrade first when it answers 402."""
    try:
        return create()
    except PaymentRequiredError:
        pass
    payer = autopay._payer()
    with _wallet_lock(payer):
        try:
            return create()  # another create of this process may have paid meanwhile
        except PaymentRequiredError:
            pass
        pay_for_upgrade(billing, autopay, payer)
    return create()


def pay_for_upgrade(
    billing: Billing, autopay: Autopay, payer: _Payer | None = None
) -> PaymentConfirmation:
    """Confirm an earlier payment of this wallet, or pay a new quote and confirm it."""
    payer = payer or autopay._payer()
    deadline = time.monotonic() + autopay.confirm_timeout
    earlier = [q for q in billing.open_quotes() if _bound_to(q, payer.chain, payer.address)]
    if earlier:
        found = payer.find_earlier(earlier, deadline)
        if found is not None:
            return _confirm(billing, found[0], found[1], deadline)
    quote = billing.quote(chain=payer.chain, payer=payer.address)
    _check_price(quote, autopay.max_amount, payer.decimals(quote))
    tx = payer.pay(quote)
    return _confirm(billing, quote, tx, deadline)


def _confirm(billing: Billing, quote: Quote, tx: str, deadline: float) -> PaymentConfirmation:
    while True:
        try:
            return billing.confirm(quote.quote_id, tx)
        except APIStatusError as error:
            delay = _retry_delay(error)
            if delay is None:
                message = f"the server refused the payment: {error}"
                raise AutopayError(message, tx_hash=tx) from error
            if time.monotonic() + delay > deadline:
                raise AutopayError("the payment was not confirmed in time", tx_hash=tx) from error
            time.sleep(delay)


# -- async -----------------------------------------------------------------------------------


async def create_paying_async(
    create: Callable[[], Awaitable[T]], billing: AsyncBilling, autopay: Autopay
) -> T:
    """`create_paying`, async."""
    try:
        return await create()
    except PaymentRequiredError:
        pass
    payer = autopay._payer()
    async with _async_wallet_lock(payer):
        try:
            return await create()
        except PaymentRequiredError:
            pass
        await pay_for_upgrade_async(billing, autopay, payer)
    return await create()


async def pay_for_upgrade_async(
    billing: AsyncBilling, autopay: Autopay, payer: _Payer | None = None
) -> PaymentConfirmation:
    """`pay_for_upgrade`, async."""
    payer = payer or autopay._payer()
    deadline = time.monotonic() + autopay.confirm_timeout
    quotes = await billing.open_quotes()
    earlier = [q for q in quotes if _bound_to(q, payer.chain, payer.address)]
    if earlier:
        found = await payer.find_earlier_async(earlier, deadline)
        if found is not None:
            return await _confirm_async(billing, found[0], found[1], deadline)
    quote = await billing.quote(chain=payer.chain, payer=payer.address)
    decimals = await payer.decimals_async(quote)
    _check_price(quote, autopay.max_amount, decimals)
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
                message = f"the server refused the payment: {error}"
                raise AutopayError(message, tx_hash=tx) from error
            if time.monotonic() + delay > deadline:
                raise AutopayError("the payment was not confirmed in time", tx_hash=tx) from error
            await asyncio.sleep(delay)
