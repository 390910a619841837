"""A `dispatch-server dev` that sells extra inboxes: the upgrade enforced, Stripe (a local
server answering in Stripe's format) and an x402 rail on the local EVM chain."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import attrs

from tests.chain.evm import EvmChain
from tests.server.cli.test_commands import DevProcess
from tests.stripe_server import TEST_API_KEY, WEBHOOK_SECRET, StripeServer


@attrs.frozen
class PaidDev:
    process: DevProcess
    stripe: StripeServer
    recipient: str  # where on-chain payments go


@contextlib.contextmanager
def paid_dev(directory: Path, chain: EvmChain) -> Iterator[PaidDev]:
    recipient = "0x" + secrets.token_hex(20)
    stripe = StripeServer().start()
    try:
        with DevProcess(
            directory,
            DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE="true",
            DISPATCH_X402_EVM_RPC_URL=chain.rpc_url,
            DISPATCH_X402_EVM_CHAIN_ID=str(chain.chain_id),
            DISPATCH_X402_EVM_NETWORK="anvil",
            DISPATCH_X402_EVM_TOKEN=chain.token,
            DISPATCH_X402_EVM_RECIPIENT=recipient,
            DISPATCH_X402_EVM_CONFIRMATIONS="1",
            STRIPE_SECRET_KEY=TEST_API_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            STRIPE_API_BASE=stripe.base_url,
        ) as process:
            yield PaidDev(process, stripe, recipient)
    finally:
        stripe.stop()
