"""The SDK's Solana payer against a local Solana JSON-RPC node (tests/chain/solana_rpc.py: no
validator can be installed here), and the server's verifier reading what it paid."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from dispatch_client import InvalidArgumentError, WaitTimeoutError
from dispatch_client.autopay import solana as autopay
from dispatch_server.billing.chains import ExpectedPayment
from dispatch_server.billing.solana import SolanaVerifier
from tests.chain.solana_rpc import TOKEN_PROGRAM, LocalSolana, ata, solana_rpc

__all__ = ["solana_rpc"]  # fixtures

MINT = str(Keypair().pubkey())
RECIPIENT = str(Keypair().pubkey())
PRICE = 9_000_000


def funded(node: LocalSolana, amount: int = 20_000_000) -> Keypair:
    payer = Keypair()
    node.fund(str(payer.pubkey()), MINT, amount)
    node.mint_to(RECIPIENT, MINT, 0)
    return payer


def pay(
    node: LocalSolana, payer: Keypair | str, reference: bytes | str, amount: int = PRICE
) -> str:
    return autopay.pay(node.url, payer, MINT, RECIPIENT, amount, 6, reference)


def test_pay_sends_a_signed_transfer_checked_carrying_the_reference(
    solana_rpc: LocalSolana,
) -> None:
    payer, reference = funded(solana_rpc), os.urandom(32)

    signature = pay(solana_rpc, payer, reference)

    assert solana_rpc.balance(RECIPIENT, MINT) == PRICE
    assert solana_rpc.balance(str(payer.pubkey()), MINT) == 20_000_000 - PRICE
    answer = solana_rpc.transactions[signature].answer
    keys = answer["transaction"]["message"]["accountKeys"]
    reference_key = str(Pubkey.from_bytes(reference))
    assert keys[0] == {
        "pubkey": str(payer.pubkey()),
        "signer": True,
        "source": "transaction",
        "writable": True,
    }
    assert {
        "pubkey": reference_key,
        "signer": False,
        "source": "transaction",
        "writable": False,
    } in keys
    (instruction,) = answer["transaction"]["message"]["instructions"]
    assert instruction["programId"] == TOKEN_PROGRAM
    assert instruction["parsed"]["type"] == "transferChecked"
    info = instruction["parsed"]["info"]
    assert info["source"] == ata(str(payer.pubkey()), MINT)
    assert info["destination"] == ata(RECIPIENT, MINT)
    assert info["mint"] == MINT
    assert info["tokenAmount"]["amount"] == str(PRICE)
    assert info["signers"] == [reference_key]  # how the node's parser shows an extra account
    assert answer["version"] == 0


def test_the_secret_may_be_base58_a_keygen_file_or_a_seed(solana_rpc: LocalSolana) -> None:
    payer = funded(solana_rpc, amount=3)
    for secret in (str(payer), json.dumps(list(bytes(payer))), bytes(payer)):
        signature = autopay.pay(solana_rpc.url, secret, MINT, RECIPIENT, 1, 6, os.urandom(32))
        assert solana_rpc.transactions[signature].answer["meta"]["err"] is None
    seeded = Keypair.from_seed(bytes(32))
    assert (
        autopay.transfer_transaction(
            bytes(32), MINT, RECIPIENT, 1, 6, os.urandom(32), str(Hash.default())
        ).message.account_keys[0]
        == seeded.pubkey()
    )
    assert solana_rpc.balance(RECIPIENT, MINT) == 3


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"keypair_secret": b"short"}, "keypair_secret"),
        ({"keypair_secret": "not base58 0OIl"}, "keypair_secret"),
        ({"mint": "nope"}, "mint"),
        ({"recipient_wallet": "0x1234"}, "recipient"),
        ({"reference": os.urandom(31)}, "reference"),
        ({"amount": 0}, "amount"),
        ({"amount": 2**64}, "amount"),
        ({"decimals": 256}, "decimals"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_signed(
    arguments: dict[str, object], param: str
) -> None:
    call: dict[str, object] = {
        "keypair_secret": Keypair(),
        "mint": MINT,
        "recipient_wallet": RECIPIENT,
        "amount": 1,
        "decimals": 6,
        "reference": os.urandom(32),
        "blockhash": str(Hash.default()),
        **arguments,
    }
    with pytest.raises(InvalidArgumentError) as caught:
        autopay.transfer_transaction(**call)  # type: ignore[arg-type]
    assert caught.value.param == param


def test_a_payment_the_cluster_refuses_raises_and_moves_nothing(solana_rpc: LocalSolana) -> None:
    payer, reference = funded(solana_rpc, amount=PRICE - 1), os.urandom(32)

    with pytest.raises(autopay.SolanaRpcError) as caught:
        pay(solana_rpc, payer, reference)

    assert caught.value.method == "sendTransaction"
    assert caught.value.code == -32002  # simulation failed: insufficient funds
    assert solana_rpc.transactions == {}
    assert solana_rpc.balance(RECIPIENT, MINT) == 0


def test_wait_for_finalized_returns_once_the_cluster_finalizes(solana_rpc: LocalSolana) -> None:
    solana_rpc.landing = "confirmed"
    signature = pay(solana_rpc, funded(solana_rpc), os.urandom(32))
    timer = threading.Timer(0.3, solana_rpc.finalize, [signature])
    timer.start()

    autopay.wait_for_finalized(solana_rpc.url, signature, timeout=10, poll_interval=0.05)

    timer.join()
    assert solana_rpc.transactions[signature].status == "finalized"


def test_wait_for_finalized_times_out_on_a_transaction_only_confirmed(
    solana_rpc: LocalSolana,
) -> None:
    solana_rpc.landing = "confirmed"
    signature = pay(solana_rpc, funded(solana_rpc), os.urandom(32))

    with pytest.raises(WaitTimeoutError) as caught:
        autopay.wait_for_finalized(solana_rpc.url, signature, timeout=0.3, poll_interval=0.05)

    assert caught.value.timeout == 0.3


def test_wait_for_finalized_raises_for_a_failed_transaction(solana_rpc: LocalSolana) -> None:
    payer = funded(solana_rpc, amount=1)
    blockhash = solana_rpc.rpc_getLatestBlockhash()["value"]["blockhash"]
    tx = autopay.transfer_transaction(payer, MINT, RECIPIENT, 2, 6, os.urandom(32), blockhash)
    signature = solana_rpc.rpc_sendTransaction(
        base64.b64encode(bytes(tx)).decode(),
        {"encoding": "base64", "skipPreflight": True},
    )

    with pytest.raises(autopay.SolanaTransactionFailed) as caught:
        autopay.wait_for_finalized(solana_rpc.url, signature, timeout=5)

    assert caught.value.signature == signature
    assert caught.value.err == {"InstructionError": [0, {"Custom": 1}]}


def test_find_payment_finds_the_successful_transaction_carrying_a_reference(
    solana_rpc: LocalSolana,
) -> None:
    payer = funded(solana_rpc, amount=PRICE + 1)
    paid, failed, unused = os.urandom(32), os.urandom(32), os.urandom(32)
    assert autopay.find_payment(solana_rpc.url, [paid, failed, unused]) is None
    blockhash = solana_rpc.rpc_getLatestBlockhash()["value"]["blockhash"]
    tx = autopay.transfer_transaction(payer, MINT, RECIPIENT, PRICE * 2, 6, failed, blockhash)
    solana_rpc.rpc_sendTransaction(
        base64.b64encode(bytes(tx)).decode(),
        {"encoding": "base64", "skipPreflight": True},
    )
    assert autopay.find_payment(solana_rpc.url, [failed]) is None  # landed, but failed

    signature = pay(solana_rpc, payer, str(Pubkey.from_bytes(paid)))  # base58 works too

    assert autopay.find_payment(solana_rpc.url, [unused, failed, paid]) == signature
    assert autopay.find_payment(solana_rpc.url, [unused]) is None


def test_a_dead_rpc_raises_solana_rpc_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    with pytest.raises(autopay.SolanaRpcError) as caught:
        autopay.pay(url, Keypair(), MINT, RECIPIENT, 1, 6, os.urandom(32), timeout=2)
    assert caught.value.method == "getLatestBlockhash"
    with pytest.raises(autopay.SolanaRpcError):
        autopay.find_payment(url, [os.urandom(32)], timeout=2)


@pytest.mark.parametrize("fault", ["garbled", "http_error", "rpc_error", "malformed"])
def test_a_misbehaving_rpc_raises_solana_rpc_error(solana_rpc: LocalSolana, fault: str) -> None:
    solana_rpc.fault = fault  # type: ignore[assignment]
    with pytest.raises(autopay.SolanaRpcError):
        pay(solana_rpc, Keypair(), os.urandom(32))
    with pytest.raises(autopay.SolanaRpcError):
        autopay.wait_for_finalized(solana_rpc.url, "1" * 64, timeout=1)
    with pytest.raises(autopay.SolanaRpcError):
        autopay.find_payment(solana_rpc.url, [os.urandom(32)])


@pytest.mark.anyio
async def test_paid_async_found_and_verified_end_to_end(solana_rpc: LocalSolana) -> None:
    """What an agent does with a quote: look for an earlier payment, pay, wait, and the
    server's verifier accepts the payment."""
    solana_rpc.landing = "confirmed"
    payer, reference = funded(solana_rpc), os.urandom(32)
    assert await autopay.find_payment_async(solana_rpc.url, [reference]) is None

    signature = await autopay.pay_async(solana_rpc.url, payer, MINT, RECIPIENT, PRICE, 6, reference)
    assert await autopay.find_payment_async(solana_rpc.url, [reference]) == signature
    timer = threading.Timer(0.2, solana_rpc.finalize, [signature])
    timer.start()
    await autopay.wait_for_finalized_async(
        solana_rpc.url, signature, timeout=10, poll_interval=0.05
    )
    timer.join()

    verified = await SolanaVerifier(solana_rpc.url, "solana-devnet", 5.0).verify(
        ExpectedPayment(
            tx_hash=signature,
            asset=MINT,
            recipient=RECIPIENT,
            min_amount=PRICE,
            reference=reference,
            payer=str(payer.pubkey()),
            not_after=datetime.now(UTC) + timedelta(minutes=15),
        )
    )
    assert (verified.payer, verified.amount) == (str(payer.pubkey()), PRICE)


@pytest.mark.anyio
async def test_async_wait_times_out_and_async_calls_raise_on_a_dead_rpc(
    solana_rpc: LocalSolana,
) -> None:
    solana_rpc.landing = "confirmed"
    signature = await autopay.pay_async(
        solana_rpc.url, funded(solana_rpc), MINT, RECIPIENT, 1, 6, os.urandom(32)
    )
    with pytest.raises(WaitTimeoutError):
        await autopay.wait_for_finalized_async(
            solana_rpc.url, signature, timeout=0.2, poll_interval=0.05
        )
    solana_rpc.fault = "garbled"
    with pytest.raises(autopay.SolanaRpcError):
        await autopay.pay_async(solana_rpc.url, Keypair(), MINT, RECIPIENT, 1, 6, os.urandom(32))
    with pytest.raises(autopay.SolanaRpcError):
        await autopay.find_payment_async(solana_rpc.url, [os.urandom(32)])
