"""The Solana verifier against a local Solana JSON-RPC node (tests/chain/solana_rpc.py: no
validator can be installed here), with transactions built and signed by real keypairs."""

from __future__ import annotations

import base64
import os
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from dispatch_client.autopay import solana as autopay
from dispatch_server.billing.chains import ExpectedPayment, VerifiedPayment
from dispatch_server.billing.solana import UNCONFIRMED_RETRY_SECONDS, SolanaVerifier
from dispatch_server.core.clock import from_unix
from dispatch_server.core.errors import ErrorCode, InvalidInput, PaymentRefused
from tests.chain.solana_rpc import LocalSolana, solana_rpc

__all__ = ["solana_rpc"]  # fixtures

pytestmark = pytest.mark.anyio

PRICE = 9_000_000  # 9 USDC
MINT = str(Keypair().pubkey())
OTHER_MINT = str(Keypair().pubkey())
RECIPIENT = str(Keypair().pubkey())


def pubkey(keypair: Keypair) -> str:
    return str(keypair.pubkey())


def funded(node: LocalSolana, amount: int = 20_000_000, mint: str = MINT) -> Keypair:
    payer = Keypair()
    node.fund(pubkey(payer), mint, amount)
    node.mint_to(RECIPIENT, mint, 0)  # the recipient's token account exists
    return payer


def send(
    node: LocalSolana,
    payer: Keypair,
    amount: int,
    reference: bytes,
    *,
    mint: str = MINT,
    recipient: str = RECIPIENT,
    skip_preflight: bool = False,
) -> str:
    """A payment as a wallet sends it (the SDK's transaction), straight over JSON-RPC."""
    blockhash = httpx.post(
        node.url, json={"jsonrpc": "2.0", "id": 1, "method": "getLatestBlockhash"}
    ).json()["result"]["value"]["blockhash"]
    tx = autopay.transfer_transaction(payer, mint, recipient, amount, 6, reference, blockhash)
    config = {"encoding": "base64", "skipPreflight": skip_preflight}
    answer = httpx.post(
        node.url,
        json={
            "jsonrpc": "2.0",
            "id": 2,
            "method": "sendTransaction",
            "params": [base64.b64encode(bytes(tx)).decode(), config],
        },
    ).json()
    assert "result" in answer, answer
    return str(answer["result"])


def expected(
    signature: str,
    reference: bytes,
    *,
    payer: str | None = None,
    not_after: datetime | None = None,
) -> ExpectedPayment:
    return ExpectedPayment(
        tx_hash=signature,
        asset=MINT,
        recipient=RECIPIENT,
        min_amount=PRICE,
        reference=reference,
        payer=payer,
        not_after=not_after or datetime.now(UTC) + timedelta(minutes=15),
    )


def verifier(node: LocalSolana, timeout: float = 5.0) -> SolanaVerifier:
    return SolanaVerifier(node.url, "solana-devnet", timeout)


async def refused(node: LocalSolana, payment: ExpectedPayment) -> PaymentRefused:
    with pytest.raises(PaymentRefused) as caught:
        await verifier(node).verify(payment)
    return caught.value


async def test_a_finalized_payment_carrying_the_reference_is_verified(
    solana_rpc: LocalSolana,
) -> None:
    payer, reference = funded(solana_rpc), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE, reference)
    block_time = solana_rpc.transactions[signature].block_time
    assert block_time is not None

    verified = await verifier(solana_rpc).verify(expected(signature, reference))

    assert verified == VerifiedPayment(
        tx_hash=signature,
        payer=pubkey(payer),
        amount=PRICE,
        block_time=datetime.fromtimestamp(block_time, UTC),
    )
    assert verifier(solana_rpc).network == "solana-devnet"
    assert solana_rpc.balance(RECIPIENT, MINT) == PRICE
    method, params = solana_rpc.requests[-1]
    assert method == "getTransaction"
    assert params == [
        signature,
        {"encoding": "jsonParsed", "commitment": "finalized", "maxSupportedTransactionVersion": 0},
    ]


async def test_overpaying_and_naming_the_payer_is_accepted(solana_rpc: LocalSolana) -> None:
    payer, reference = funded(solana_rpc), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE + 1, reference)

    verified = await verifier(solana_rpc).verify(
        expected(signature, reference, payer=pubkey(payer))
    )

    assert (verified.payer, verified.amount) == (pubkey(payer), PRICE + 1)


async def test_a_transaction_only_confirmed_is_unconfirmed_with_a_retry_hint(
    solana_rpc: LocalSolana,
) -> None:
    solana_rpc.landing = "confirmed"
    payer, reference = funded(solana_rpc), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE, reference)

    error = await refused(solana_rpc, expected(signature, reference))

    assert error.code == ErrorCode.TRANSACTION_UNCONFIRMED
    assert error.retry_after_seconds == UNCONFIRMED_RETRY_SECONDS
    assert [p[1]["commitment"] for m, p in solana_rpc.requests if m == "getTransaction"] == [
        "finalized",
        "confirmed",
    ]
    solana_rpc.finalize(signature)
    assert (await verifier(solana_rpc).verify(expected(signature, reference))).amount == PRICE


async def test_an_unknown_signature_is_not_found(solana_rpc: LocalSolana) -> None:
    signature = str(Keypair().sign_message(b"never sent"))

    error = await refused(solana_rpc, expected(signature, os.urandom(32)))

    assert error.code == ErrorCode.TRANSACTION_NOT_FOUND


async def test_a_transaction_that_failed_on_chain_is_refused(solana_rpc: LocalSolana) -> None:
    payer, reference = funded(solana_rpc, amount=PRICE - 1), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE, reference, skip_preflight=True)
    assert solana_rpc.transactions[signature].err == {"InstructionError": [0, {"Custom": 1}]}

    error = await refused(solana_rpc, expected(signature, reference))

    assert error.code == ErrorCode.TRANSACTION_FAILED
    assert solana_rpc.balance(RECIPIENT, MINT) == 0


async def test_a_payment_in_another_token_is_the_wrong_token(solana_rpc: LocalSolana) -> None:
    payer, reference = funded(solana_rpc, mint=OTHER_MINT), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE, reference, mint=OTHER_MINT)

    error = await refused(solana_rpc, expected(signature, reference))

    assert error.code == ErrorCode.PAYMENT_WRONG_TOKEN


async def test_a_transaction_touching_the_token_without_moving_it_is_the_wrong_token(
    solana_rpc: LocalSolana,
) -> None:
    payer, reference = funded(solana_rpc), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE, reference)
    meta = solana_rpc.transactions[signature].answer["meta"]
    meta["postTokenBalances"] = meta["preTokenBalances"]  # as a zero-amount transfer shows

    error = await refused(solana_rpc, expected(signature, reference))

    assert error.code == ErrorCode.PAYMENT_WRONG_TOKEN


async def test_a_payment_to_another_wallet_is_the_wrong_recipient(
    solana_rpc: LocalSolana,
) -> None:
    payer, reference, elsewhere = funded(solana_rpc), os.urandom(32), str(Keypair().pubkey())
    solana_rpc.mint_to(elsewhere, MINT, 0)
    signature = send(solana_rpc, payer, PRICE, reference, recipient=elsewhere)

    error = await refused(solana_rpc, expected(signature, reference))

    assert error.code == ErrorCode.PAYMENT_WRONG_RECIPIENT


async def test_a_payment_below_the_price_is_underpaid(solana_rpc: LocalSolana) -> None:
    payer, reference = funded(solana_rpc), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE - 1, reference)

    error = await refused(solana_rpc, expected(signature, reference))

    assert error.code == ErrorCode.PAYMENT_UNDERPAID


async def test_a_payment_without_the_quotes_reference_is_refused(
    solana_rpc: LocalSolana,
) -> None:
    payer = funded(solana_rpc)
    signature = send(solana_rpc, payer, PRICE, os.urandom(32))  # another quote's reference

    error = await refused(solana_rpc, expected(signature, os.urandom(32)))

    assert error.code == ErrorCode.PAYMENT_REFERENCE_MISSING


async def test_a_payment_from_another_wallet_than_the_named_payer_is_refused(
    solana_rpc: LocalSolana,
) -> None:
    payer, reference = funded(solana_rpc), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE, reference)

    error = await refused(solana_rpc, expected(signature, reference, payer=str(Keypair().pubkey())))

    assert error.code == ErrorCode.PAYMENT_WRONG_PAYER


async def test_a_payment_in_a_block_after_the_quotes_expiry_is_refused(
    solana_rpc: LocalSolana,
) -> None:
    payer, reference = funded(solana_rpc), os.urandom(32)
    signature = send(solana_rpc, payer, PRICE, reference)
    not_after = datetime(2030, 1, 1, tzinfo=UTC)
    solana_rpc.set_block_time(signature, int(not_after.timestamp()) + 1)

    error = await refused(solana_rpc, expected(signature, reference, not_after=not_after))

    assert error.code == ErrorCode.QUOTE_EXPIRED
    solana_rpc.set_block_time(signature, int(not_after.timestamp()))
    verified = await verifier(solana_rpc).verify(
        expected(signature, reference, not_after=not_after)
    )
    assert verified.block_time == not_after


async def test_a_reference_among_a_v0_transactions_loaded_addresses_counts(
    solana_rpc: LocalSolana,
) -> None:
    reference, payer = os.urandom(32), str(Keypair().pubkey())
    signature = str(Signature(os.urandom(64)))

    def balance(index: int, owner: str, amount: int) -> dict[str, object]:
        return {
            "accountIndex": index,
            "mint": MINT,
            "owner": owner,
            "programId": "TokenkegQfeYyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
            "uiTokenAmount": {
                "amount": str(amount),
                "decimals": 6,
                "uiAmount": amount / 1e6 or None,
                "uiAmountString": str(amount / 1e6),
            },
        }

    mined_at = int(time.time())
    solana_rpc.add_transaction(
        signature,
        {
            "blockTime": mined_at,
            "meta": {
                "err": None,
                "fee": 5000,
                "loadedAddresses": {
                    "readonly": [str(Pubkey.from_bytes(reference))],
                    "writable": [],
                },
                "preTokenBalances": [balance(1, payer, PRICE), balance(2, RECIPIENT, 5)],
                "postTokenBalances": [balance(1, payer, 0), balance(2, RECIPIENT, PRICE + 5)],
            },
            "transaction": {
                "message": {"accountKeys": [{"pubkey": payer, "signer": True}]},
                "signatures": [signature],
            },
            "version": 0,
        },
    )

    verified = await verifier(solana_rpc).verify(expected(signature, reference, payer=payer))

    assert verified == VerifiedPayment(
        tx_hash=signature, payer=payer, amount=PRICE, block_time=from_unix(mined_at)
    )


@pytest.mark.parametrize(
    "tx_hash",
    [
        "",
        "not-base58-0OIl",
        str(Keypair().pubkey()),  # 32 bytes: an address, not a signature
        "1" * 89,
        "z" * 5000,
        "0x" + "ab" * 32,
    ],
)
async def test_a_malformed_signature_is_invalid_input_naming_tx_hash(
    solana_rpc: LocalSolana, tx_hash: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await verifier(solana_rpc).verify(expected(tx_hash, os.urandom(32)))

    assert caught.value.param == "tx_hash"
    assert caught.value.code == ErrorCode.INVALID_REQUEST
    assert solana_rpc.requests == []


@pytest.mark.parametrize("fault", ["garbled", "http_error", "rpc_error", "malformed", "slow"])
async def test_a_misbehaving_node_is_chain_unavailable(solana_rpc: LocalSolana, fault: str) -> None:
    solana_rpc.fault = fault  # type: ignore[assignment]
    solana_rpc.slow_seconds = 1.0
    signature = str(Keypair().sign_message(b"x"))

    with pytest.raises(PaymentRefused) as caught:
        await verifier(solana_rpc, timeout=0.3).verify(expected(signature, os.urandom(32)))

    assert caught.value.code == ErrorCode.CHAIN_UNAVAILABLE


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"meta": None, "transaction": {}},
        {"meta": {"err": None, "postTokenBalances": "x"}, "transaction": {}},
        {
            "meta": {
                "err": None,
                "preTokenBalances": [],
                "postTokenBalances": [
                    {"mint": MINT, "owner": RECIPIENT, "uiTokenAmount": {"amount": 9e6}}
                ],
            },
            "transaction": {},
        },
        {
            "meta": {
                "err": None,
                "postTokenBalances": [
                    {"mint": MINT, "owner": RECIPIENT, "uiTokenAmount": {"amount": "9000000"}}
                ],
            },
            "transaction": {"message": {"accountKeys": None}},
        },
    ],
)
async def test_a_transaction_of_the_wrong_shape_is_chain_unavailable(
    solana_rpc: LocalSolana, answer: object
) -> None:
    signature = str(Signature(os.urandom(64)))
    solana_rpc.add_transaction(signature, {})
    solana_rpc.transactions[signature].answer = answer  # type: ignore[assignment]
    if not isinstance(answer, dict):
        solana_rpc.rpc_getTransaction = lambda *_: answer  # type: ignore[method-assign]

    error = await refused(solana_rpc, expected(signature, os.urandom(32)))

    assert error.code == ErrorCode.CHAIN_UNAVAILABLE


async def test_a_dead_node_is_chain_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    signature = str(Keypair().sign_message(b"x"))

    with pytest.raises(PaymentRefused) as caught:
        await SolanaVerifier(f"http://127.0.0.1:{port}", "solana", 2.0).verify(
            expected(signature, os.urandom(32))
        )

    assert caught.value.code == ErrorCode.CHAIN_UNAVAILABLE
