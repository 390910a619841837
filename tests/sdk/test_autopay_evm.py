"""The SDK's EVM payer against a real chain (anvil, tests/chain) and a real ERC-20: what it
sends is what the server's verifier accepts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from dispatch_client import AutopayError
from dispatch_client.autopay.evm import (
    AsyncEvmPayer,
    EvmPayer,
    EvmRpcError,
    PaymentRevertedError,
    PaymentTimeoutError,
    transfer_calldata,
)
from dispatch_server.billing.chains import ExpectedPayment
from dispatch_server.billing.evm import EvmVerifier
from tests.chain.evm import Account, EvmChain, free_port

PRICE = 9_000_000


@pytest.fixture(scope="module")
def payer(evm_chain: EvmChain) -> Account:
    account = evm_chain.accounts[5]
    evm_chain.mint(evm_chain.token, account.address, 1000 * PRICE)
    return account


@pytest.fixture
def recipient(evm_chain: EvmChain) -> str:
    return evm_chain.accounts[2].address


def test_the_calldata_is_the_transfer_then_the_reference() -> None:
    reference = bytes(range(32))
    data = transfer_calldata("0x" + "AB" * 20, 5, reference)
    assert data == "0xa9059cbb" + "0" * 24 + "ab" * 20 + f"{5:064x}" + reference.hex()
    with pytest.raises(AutopayError):
        transfer_calldata("0x" + "ab" * 20, 5, b"short")
    with pytest.raises(AutopayError):
        transfer_calldata("0x" + "ab" * 20, 0, reference)


def test_a_payment_is_sent_confirmed_and_accepted_by_the_server(
    evm_chain: EvmChain, payer: Account, recipient: str
) -> None:
    reference = os.urandom(32)
    before = evm_chain.balance(recipient)
    with EvmPayer(evm_chain.rpc_url, evm_chain.chain_id) as client:
        tx_hash = client.pay(payer.private_key, evm_chain.token, recipient, PRICE, reference)
        tx = evm_chain.rpc("eth_getTransactionByHash", tx_hash)
        assert tx["type"] == "0x2"  # EIP-1559
        assert tx["input"].endswith(reference.hex())
        with pytest.raises(PaymentTimeoutError):
            client.wait_for_confirmations(tx_hash, 3, timeout=0.3, poll=0.1)
        evm_chain.mine(2)
        block = client.wait_for_confirmations(tx_hash, 3, timeout=5, poll=0.1)
    assert block == int(evm_chain.receipt(tx_hash)["blockNumber"], 16)
    assert evm_chain.balance(recipient) == before + PRICE
    verifier = EvmVerifier(evm_chain.rpc_url, "localnet", evm_chain.chain_id, 3, 5.0)
    terms = ExpectedPayment(
        tx_hash=tx_hash,
        asset=evm_chain.token,
        recipient=recipient,
        min_amount=PRICE,
        reference=reference,
        payer=payer.address,
        not_after=datetime.now(UTC) + timedelta(minutes=15),
    )
    import anyio

    verified = anyio.run(verifier.verify, terms)
    assert verified.tx_hash == tx_hash and verified.amount == PRICE


@pytest.mark.anyio
async def test_the_async_payer_pays_and_finds_its_payment(
    evm_chain: EvmChain, payer: Account, recipient: str
) -> None:
    start = evm_chain.block_number()
    reference, other = os.urandom(32), os.urandom(32)
    async with AsyncEvmPayer(evm_chain.rpc_url, evm_chain.chain_id) as client:
        assert (
            await client.find_payment(evm_chain.token, payer.address, recipient, {reference}, start)
            is None
        )
        tx_hash = await client.pay(payer.private_key, evm_chain.token, recipient, 7, reference)
        assert await client.wait_for_confirmations(tx_hash, 1, timeout=5, poll=0.1) > start
        found = await client.find_payment(
            evm_chain.token, payer.address, recipient, {other, reference}, start
        )
        assert found == tx_hash
        assert (
            await client.find_payment(evm_chain.token, payer.address, recipient, {other}, start)
            is None
        )
        # The same transfer of another token, or to someone else, is not this payment.
        assert (
            await client.find_payment(
                evm_chain.other_token, payer.address, recipient, {reference}, start
            )
            is None
        )
        stranger = evm_chain.accounts[3].address
        assert (
            await client.find_payment(evm_chain.token, payer.address, stranger, {reference}, start)
            is None
        )
        assert not await client.has_pending(payer.address)


def test_find_payment_looks_from_the_block_given(
    evm_chain: EvmChain, payer: Account, recipient: str
) -> None:
    reference = os.urandom(32)
    with EvmPayer(evm_chain.rpc_url, evm_chain.chain_id) as client:
        tx_hash = client.pay(payer.private_key, evm_chain.token, recipient, 1, reference)
        mined = client.wait_for_confirmations(tx_hash, 1, timeout=5, poll=0.1)
        found = client.find_payment(evm_chain.token, payer.address, recipient, {reference}, mined)
        assert found == tx_hash
        later = client.find_payment(
            evm_chain.token, payer.address, recipient, {reference}, mined + 1
        )
        assert later is None


def test_a_sent_unmined_payment_is_pending(
    evm_chain: EvmChain, payer: Account, recipient: str
) -> None:
    with EvmPayer(evm_chain.rpc_url, evm_chain.chain_id) as client:
        assert not client.has_pending(payer.address)
        with evm_chain.paused():
            tx_hash = client.pay(payer.private_key, evm_chain.token, recipient, 1, os.urandom(32))
            assert client.has_pending(payer.address)
            assert evm_chain.rpc("eth_getTransactionReceipt", tx_hash) is None
        client.wait_for_confirmations(tx_hash, 1, timeout=5, poll=0.1)
        assert not client.has_pending(payer.address)


def test_a_reverted_payment_is_reported(evm_chain: EvmChain, recipient: str) -> None:
    broke = evm_chain.accounts[4].address  # holds no tokens
    tx_hash = evm_chain.transfer(broke, recipient, PRICE, os.urandom(32), gas=100_000)
    with EvmPayer(evm_chain.rpc_url, evm_chain.chain_id) as client:
        with pytest.raises(PaymentRevertedError):
            client.wait_for_confirmations(tx_hash, 1, timeout=5, poll=0.1)
        # pay() estimates the gas first, so a transfer that would revert is never sent.
        key = evm_chain.accounts[4].private_key
        with pytest.raises(EvmRpcError, match="eth_estimateGas"):
            client.pay(key, evm_chain.token, recipient, PRICE, os.urandom(32))


def test_a_payer_on_the_wrong_chain_sends_nothing(evm_chain: EvmChain, payer: Account) -> None:
    client = EvmPayer(evm_chain.rpc_url, 8453)
    with client, pytest.raises(AutopayError, match="chain 1337, not 8453"):
        client.pay(payer.private_key, evm_chain.token, payer.address, 1, os.urandom(32))


def test_a_dead_rpc_is_an_rpc_error(payer: Account) -> None:
    client = EvmPayer(f"http://127.0.0.1:{free_port()}", 1337, timeout=2)
    with client, pytest.raises(EvmRpcError, match="ConnectError"):
        client.has_pending(payer.address)


def test_importing_the_payer_leaves_the_recursion_limit() -> None:
    script = textwrap.dedent(
        """
        import sys
        from dispatch_client.autopay import evm
        evm._eth_account()
        import eth_account
        print(sys.getrecursionlimit())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1000"]
