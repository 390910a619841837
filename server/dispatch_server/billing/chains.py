"""What an x402 confirmation asks of a chain, and what the chain's verifier answers.

Each rail (EVM, Solana) has one verifier that reads a transaction over the chain's JSON-RPC
and checks it against the quote. A verifier raises `PaymentRefused` with the code of the
first check that failed; it never writes anything. Recording the verification and granting
the entitlement happen afterwards, in one database transaction (`billing.x402`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class ExpectedPayment:
    """The quote's terms, as the verifier checks them."""

    tx_hash: str  # as the client gave it (EVM: 0x-hex; Solana: a base58 signature)
    asset: str  # EVM: the ERC-20 contract (0x, checksummed or not); Solana: the mint (base58)
    recipient: str  # EVM: the receiving address; Solana: the receiving wallet (token owner)
    min_amount: int  # in the token's base units (USDC: 6 decimals)
    reference: bytes  # 32 bytes, unique per quote
    payer: str | None  # when given, the transaction must come from this address / wallet
    not_after: datetime  # the quote's expiry: the transaction must be in a block no later


@attrs.frozen(kw_only=True)
class VerifiedPayment:
    """A transaction that pays the quote."""

    tx_hash: str  # normalised: EVM lower-case 0x-hex; Solana base58 as given
    payer: str  # EVM: checksummed sender; Solana: the wallet whose tokens moved
    amount: int  # base units the recipient received from this transaction
    block_time: datetime | None  # the block's time, UTC, when the chain reports one


class ChainVerifier(Protocol):
    """One rail's verifier, configured with its RPC endpoint and network."""

    network: str  # the x402 network name: "base", "base-sepolia", "solana", ...

    async def verify(self, expected: ExpectedPayment) -> VerifiedPayment: ...
