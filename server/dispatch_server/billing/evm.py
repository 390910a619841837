"""The EVM rail's verifier: reads one transaction over JSON-RPC (web3.py) and checks that it
pays the quote.

A payment is an ERC-20 `transfer(address to, uint256 amount)` call to the quoted token, its
calldata the standard 4 + 32 + 32 bytes followed by the quote's 32-byte reference (ERC-20
contracts ignore trailing calldata):

    0xa9059cbb ++ pad32(to) ++ uint256(amount) ++ reference

The checks, in this order: what can be refused without asking the chain, then what the chain
says about the transaction itself (identity: final even while it is pending), then its
outcome once mined (final refusals before the one that only says "wait"):

 1. tx_hash is 0x and 64 hex digits                                  InvalidInput (tx_hash)
 2. the RPC's chain id is the configured one (asked once)            CHAIN_UNAVAILABLE
 3. the transaction exists                                           TRANSACTION_NOT_FOUND
 4. it calls the quoted token                                        PAYMENT_WRONG_TOKEN
 5. it is a transfer whose arguments are followed by the reference   PAYMENT_REFERENCE_MISSING
 6. its transfer goes to the recipient                               PAYMENT_WRONG_RECIPIENT
 7. it comes from the quote's payer, when the quote names one        PAYMENT_WRONG_PAYER
 8. it is mined                                                      TRANSACTION_UNCONFIRMED
 9. it succeeded (receipt status 1)                                  TRANSACTION_FAILED
10. its receipt has Transfer logs of the token                       PAYMENT_WRONG_TOKEN
11. ... some of them to the recipient                                PAYMENT_WRONG_RECIPIENT
12. ... and those add up to the quote's amount                       PAYMENT_UNDERPAID
13. its block is no later than the quote's expiry                    QUOTE_EXPIRED
14. it has min_confirmations (latest - block + 1)                    TRANSACTION_UNCONFIRMED

The amount is counted from the receipt's Transfer logs, not from the calldata: that is what
the recipient received. Any RPC failure (refused connection, timeout, error answer, an answer
that is not what JSON-RPC promises) is CHAIN_UNAVAILABLE, never a 500.

web3 comes with the `wallet` extra, and is imported with the recursion limit kept (see
dispatch_server.core.imports).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dispatch_server.billing.chains import ExpectedPayment, VerifiedPayment
from dispatch_server.core.clock import from_unix
from dispatch_server.core.errors import ErrorCode, InvalidInput, PaymentRefused
from dispatch_server.core.imports import keeping_recursion_limit

with keeping_recursion_limit():
    from eth_typing import HexStr
    from web3 import AsyncHTTPProvider, AsyncWeb3
    from web3.exceptions import TransactionNotFound

T = TypeVar("T")

TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class _Unavailable(Exception):
    """Raised inside a call to the RPC; turned into CHAIN_UNAVAILABLE."""


def _refuse(code: ErrorCode, message: str, *, retry_after: int | None = None) -> PaymentRefused:
    return PaymentRefused(code, message, param="tx_hash", retry_after_seconds=retry_after)


def _unavailable(message: str) -> PaymentRefused:
    return PaymentRefused(ErrorCode.CHAIN_UNAVAILABLE, message, retry_after_seconds=30)


def _address(value: object) -> str:
    """A 0x address in lower case, from an RPC answer; _Unavailable if it is not one."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise _Unavailable(f"the RPC answered {value!r} for an address")
    return value.lower()


def _topic_address(topic: bytes) -> str:
    return "0x" + topic[-20:].hex()


class EvmVerifier:
    """Verifies EVM payments over one JSON-RPC endpoint (one web3 connection per verify)."""

    def __init__(
        self,
        rpc_url: str,
        network: str,
        chain_id: int,
        min_confirmations: int,
        timeout: float,
        *,
        block_seconds: float = 2.0,  # Base's block time: the retry hint for confirmations
    ) -> None:
        self.rpc_url = rpc_url
        self.network = network
        self.chain_id = chain_id
        self.min_confirmations = max(1, min_confirmations)
        self.timeout = timeout
        self.block_seconds = block_seconds
        self._chain_id_checked = False

    def _web3(self) -> AsyncWeb3[AsyncHTTPProvider]:
        provider = AsyncHTTPProvider(
            self.rpc_url,
            request_kwargs={"timeout": self.timeout},
            exception_retry_configuration=None,  # the caller retries, told by retry_after
        )
        return AsyncWeb3(provider)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await call()
        except (TransactionNotFound, PaymentRefused):
            raise
        except TimeoutError:
            raise _unavailable(f"the EVM RPC did not answer {what} in {self.timeout:g}s") from None
        except Exception as exc:  # connection refused, error answers, malformed answers
            raise _unavailable(f"the EVM RPC failed {what}: {type(exc).__name__}") from None

    async def verify(self, expected: ExpectedPayment) -> VerifiedPayment:
        """The payment `expected.tx_hash` made, or PaymentRefused with the first failed check
        (see the module's docstring for their order)."""
        if not isinstance(expected.tx_hash, str) or not _TX_HASH.fullmatch(expected.tx_hash):
            raise InvalidInput("tx_hash must be 0x and 64 hex digits", param="tx_hash")
        w3 = self._web3()
        try:
            return await self._verify(w3, expected)
        except _Unavailable as exc:
            raise _unavailable(f"the EVM RPC gave a malformed answer: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise _unavailable("the EVM RPC gave a malformed answer") from None
        finally:
            with contextlib.suppress(Exception):  # closing a session that never connected
                await w3.provider.disconnect()

    async def _verify(
        self, w3: AsyncWeb3[AsyncHTTPProvider], expected: ExpectedPayment
    ) -> VerifiedPayment:
        tx_hash = HexStr(expected.tx_hash.lower())
        token = expected.asset.lower()
        recipient = expected.recipient.lower()
        if not self._chain_id_checked:
            chain_id = await self._call("eth_chainId", lambda: w3.eth.chain_id)
            if chain_id != self.chain_id:
                raise _unavailable(
                    f"the EVM RPC is on chain {chain_id}, not the configured {self.chain_id} "
                    "(DISPATCH_X402_EVM_CHAIN_ID)"
                )
            self._chain_id_checked = True

        try:
            tx = await self._call(
                "eth_getTransactionByHash", lambda: w3.eth.get_transaction(tx_hash)
            )
        except TransactionNotFound:
            tx = None
        if tx is None:
            raise _refuse(
                ErrorCode.TRANSACTION_NOT_FOUND,
                f"the chain does not know transaction {tx_hash} (yet): check the hash and the "
                "network",
                retry_after=math.ceil(self.block_seconds),
            )

        # Identity: the call itself.
        to = tx.get("to")
        if to is None or _address(to) != token:
            raise _refuse(
                ErrorCode.PAYMENT_WRONG_TOKEN, f"the transaction does not call the token {token}"
            )
        data = bytes(tx["input"])
        if len(data) < 100 or data[:4] != TRANSFER_SELECTOR or data[68:100] != expected.reference:
            raise _refuse(
                ErrorCode.PAYMENT_REFERENCE_MISSING,
                "the transaction is not a transfer(to, amount) followed by the quote's 32-byte "
                "reference",
            )
        if _topic_address(data[4:36]) != recipient:
            raise _refuse(
                ErrorCode.PAYMENT_WRONG_RECIPIENT, f"the transfer does not go to {recipient}"
            )
        sender = _address(tx["from"])
        if expected.payer is not None and sender != expected.payer.lower():
            raise _refuse(
                ErrorCode.PAYMENT_WRONG_PAYER,
                f"the transaction comes from {sender}, not the quote's payer {expected.payer}",
            )

        # Outcome: once mined.
        receipt = None
        if tx.get("blockNumber") is not None:
            try:
                receipt = await self._call(
                    "eth_getTransactionReceipt", lambda: w3.eth.get_transaction_receipt(tx_hash)
                )
            except TransactionNotFound:
                receipt = None
        if receipt is None:
            raise _refuse(
                ErrorCode.TRANSACTION_UNCONFIRMED,
                "the transaction is not in a block yet",
                retry_after=math.ceil(self.min_confirmations * self.block_seconds),
            )
        block_number = int(receipt["blockNumber"])
        if int(receipt["status"]) != 1:
            raise _refuse(ErrorCode.TRANSACTION_FAILED, "the transaction reverted")
        amount, token_logs = 0, 0
        for log in receipt["logs"]:
            topics = [bytes(topic) for topic in log["topics"]]
            if _address(log["address"]) != token or len(topics) != 3:
                continue
            if topics[0] != TRANSFER_TOPIC:
                continue
            token_logs += 1
            if _topic_address(topics[2]) == recipient:
                amount += int.from_bytes(bytes(log["data"])[:32], "big")
        if token_logs == 0:
            raise _refuse(
                ErrorCode.PAYMENT_WRONG_TOKEN, f"the transaction moved no tokens of {token}"
            )
        if amount == 0:
            raise _refuse(
                ErrorCode.PAYMENT_WRONG_RECIPIENT, f"the transaction paid nothing to {recipient}"
            )
        if amount < expected.min_amount:
            raise _refuse(
                ErrorCode.PAYMENT_UNDERPAID,
                f"the transaction paid {amount} base units; the quote asks {expected.min_amount}",
            )
        block = await self._call(
            "eth_getBlockByNumber", lambda: w3.eth.get_block(block_number, False)
        )
        block_time = from_unix(int(block["timestamp"]))
        if block_time > expected.not_after:
            raise _refuse(
                ErrorCode.QUOTE_EXPIRED,
                f"the transaction's block is from {block_time:%Y-%m-%dT%H:%M:%SZ}, after the "
                f"quote expired at {expected.not_after:%Y-%m-%dT%H:%M:%SZ}",
            )
        latest = await self._call("eth_blockNumber", lambda: w3.eth.block_number)
        confirmations = int(latest) - block_number + 1
        if confirmations < self.min_confirmations:
            missing = self.min_confirmations - confirmations
            raise _refuse(
                ErrorCode.TRANSACTION_UNCONFIRMED,
                f"the transaction has {max(confirmations, 0)} of the "
                f"{self.min_confirmations} confirmations it needs",
                retry_after=max(1, math.ceil(missing * self.block_seconds)),
            )
        return VerifiedPayment(
            tx_hash=tx_hash,
            payer=AsyncWeb3.to_checksum_address(sender),
            amount=amount,
            block_time=block_time,
        )
