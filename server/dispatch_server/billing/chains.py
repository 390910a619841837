"""What an x402 confirmation asks of a chain, and what the chain's verifier answers.

Each rail (EVM, Solana) has one verifier that reads a transaction over the chain's JSON-RPC
and checks it against the quote. A verifier raises `PaymentRefused` with the code of the
first check that failed; it never writes anything. Recording the verification and granting
the entitlement happen afterwards, in one database transaction (`billing.x402`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import attrs

from dispatch_server.auth.wallets import WalletUnsupported

if TYPE_CHECKING:
    from dispatch_server.billing.x402 import RailConfig

RPC_TIMEOUT_SECONDS = 10.0


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


def open_verifier(config: RailConfig) -> ChainVerifier:
    """The verifier of a configured rail; `501 wallet_unsupported` for EVM without the wallet
    extra (web3.py)."""
    if config.rail == "evm":
        try:
            from dispatch_server.billing.evm import EvmVerifier
        except ImportError:
            raise WalletUnsupported(
                "EVM payments need the wallet extra: pip install 'dispatch-client[server,wallet]'"
            ) from None
        assert config.chain_id is not None
        return EvmVerifier(
            rpc_url=config.rpc_url,
            network=config.network,
            chain_id=config.chain_id,
            min_confirmations=config.confirmations,
            timeout=RPC_TIMEOUT_SECONDS,
        )
    from dispatch_server.billing.solana import SolanaVerifier

    return SolanaVerifier(
        rpc_url=config.rpc_url, network=config.network, timeout=RPC_TIMEOUT_SECONDS
    )
