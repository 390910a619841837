"""The EVM verifier against a real chain (anvil, tests/chain) and a real ERC-20: the payment
that passes, and one test per refusal, each with its own code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs
import pytest

from dispatch_server.billing.chains import ExpectedPayment, VerifiedPayment
from dispatch_server.billing.evm import EvmVerifier
from dispatch_server.core.errors import ErrorCode, InvalidInput, PaymentRefused
from tests.chain.evm import EvmChain, free_port

pytestmark = pytest.mark.anyio

PRICE = 9_000_000  # 9.00 USDC
CONFIRMATIONS = 3


@attrs.frozen
class Parties:
    chain: EvmChain
    payer: str
    recipient: str
    stranger: str
    broke: str  # holds no tokens: its transfers revert


@pytest.fixture(scope="module")
def parties(evm_chain: EvmChain) -> Parties:
    payer, recipient, stranger, broke = (a.address for a in evm_chain.accounts[1:5])
    evm_chain.mint(evm_chain.token, payer, 1000 * PRICE)
    evm_chain.mint(evm_chain.other_token, payer, 1000 * PRICE)
    return Parties(evm_chain, payer, recipient, stranger, broke)


def verifier(chain: EvmChain, **changes: object) -> EvmVerifier:
    arguments: dict[str, object] = {
        "rpc_url": chain.rpc_url,
        "network": "localnet",
        "chain_id": chain.chain_id,
        "min_confirmations": CONFIRMATIONS,
        "timeout": 5.0,
    }
    arguments.update(changes)
    return EvmVerifier(**arguments)  # type: ignore[arg-type]


def expected(
    parties: Parties,
    tx_hash: str,
    reference: bytes,
    *,
    payer: str | None = None,
    not_after: datetime | None = None,
) -> ExpectedPayment:
    return ExpectedPayment(
        tx_hash=tx_hash,
        asset=parties.chain.token,
        recipient=parties.recipient,
        min_amount=PRICE,
        reference=reference,
        payer=payer,
        not_after=not_after or datetime.now(UTC) + timedelta(minutes=15),
    )


def paid(parties: Parties, amount: int = PRICE, **transfer: object) -> tuple[str, bytes]:
    """A mined transfer from the payer with a fresh reference, confirmed enough."""
    reference = os.urandom(32)
    recipient = transfer.pop("to", parties.recipient)
    sender = transfer.pop("sender", parties.payer)
    tx_hash = parties.chain.transfer(sender, recipient, amount, reference, **transfer)  # type: ignore[arg-type]
    parties.chain.mine(CONFIRMATIONS)
    return tx_hash, reference


async def refusal(check: EvmVerifier, terms: ExpectedPayment) -> PaymentRefused:
    with pytest.raises(PaymentRefused) as caught:
        await check.verify(terms)
    return caught.value


async def test_a_confirmed_transfer_with_the_reference_pays(parties: Parties) -> None:
    tx_hash, reference = paid(parties, PRICE + 1)
    before = datetime.now(UTC) - timedelta(minutes=1)
    terms = expected(parties, tx_hash.upper().replace("0X", "0x"), reference, payer=parties.payer)
    result = await verifier(parties.chain).verify(terms)
    assert result.tx_hash == tx_hash.lower()
    assert result.payer.lower() == parties.payer and result.payer != parties.payer  # checksummed
    assert result.amount == PRICE + 1
    assert result.block_time is not None and result.block_time.tzinfo == UTC
    assert before < result.block_time <= datetime.now(UTC) + timedelta(seconds=5)
    assert isinstance(result, VerifiedPayment)


async def test_exactly_min_confirmations_is_enough(parties: Parties) -> None:
    reference = os.urandom(32)
    tx_hash = parties.chain.transfer(parties.payer, parties.recipient, PRICE, reference)
    parties.chain.mine(CONFIRMATIONS - 1)  # its own block counts
    result = await verifier(parties.chain).verify(expected(parties, tx_hash, reference))
    assert result.amount == PRICE


@pytest.mark.parametrize("tx_hash", ["", "0x1234", "ab" * 32, "0x" + "zz" * 32, "0x" + "a" * 65])
async def test_a_malformed_hash_is_invalid_input(parties: Parties, tx_hash: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await verifier(parties.chain).verify(expected(parties, tx_hash, os.urandom(32)))
    assert caught.value.param == "tx_hash"


async def test_an_unknown_transaction_is_not_found(parties: Parties) -> None:
    terms = expected(parties, "0x" + os.urandom(32).hex(), os.urandom(32))
    refused = await refusal(verifier(parties.chain), terms)
    assert refused.code == ErrorCode.TRANSACTION_NOT_FOUND


async def test_a_pending_transaction_is_unconfirmed(parties: Parties) -> None:
    reference = os.urandom(32)
    with parties.chain.paused():
        tx_hash = parties.chain.transfer(parties.payer, parties.recipient, PRICE, reference)
        refused = await refusal(verifier(parties.chain), expected(parties, tx_hash, reference))
    assert refused.code == ErrorCode.TRANSACTION_UNCONFIRMED
    assert "not in a block" in refused.message
    assert refused.retry_after_seconds is not None and refused.retry_after_seconds >= 1


async def test_too_few_confirmations_is_unconfirmed(parties: Parties) -> None:
    reference = os.urandom(32)
    tx_hash = parties.chain.transfer(parties.payer, parties.recipient, PRICE, reference)
    parties.chain.mine(1)  # two of three
    refused = await refusal(verifier(parties.chain), expected(parties, tx_hash, reference))
    assert refused.code == ErrorCode.TRANSACTION_UNCONFIRMED
    assert "2 of the 3" in refused.message
    assert refused.retry_after_seconds == 2  # one block of Base's 2 seconds


async def test_a_reverted_transfer_failed(parties: Parties) -> None:
    # More than its balance, with the gas given so the node mines it rather than refusing it.
    tx_hash, reference = paid(parties, sender=parties.broke, gas=100_000)
    assert int(parties.chain.receipt(tx_hash)["status"], 16) == 0
    refused = await refusal(verifier(parties.chain), expected(parties, tx_hash, reference))
    assert refused.code == ErrorCode.TRANSACTION_FAILED


async def test_another_token_is_the_wrong_token(parties: Parties) -> None:
    tx_hash, reference = paid(parties, token=parties.chain.other_token)
    refused = await refusal(verifier(parties.chain), expected(parties, tx_hash, reference))
    assert refused.code == ErrorCode.PAYMENT_WRONG_TOKEN


async def test_a_transfer_to_another_address_is_the_wrong_recipient(parties: Parties) -> None:
    tx_hash, reference = paid(parties, to=parties.stranger)
    refused = await refusal(verifier(parties.chain), expected(parties, tx_hash, reference))
    assert refused.code == ErrorCode.PAYMENT_WRONG_RECIPIENT


async def test_less_than_the_price_is_underpaid(parties: Parties) -> None:
    tx_hash, reference = paid(parties, PRICE - 1)
    refused = await refusal(verifier(parties.chain), expected(parties, tx_hash, reference))
    assert refused.code == ErrorCode.PAYMENT_UNDERPAID
    assert str(PRICE - 1) in refused.message


@pytest.mark.parametrize("reference", [None, "another"])
async def test_a_transfer_without_the_quotes_reference_is_refused(
    parties: Parties, reference: str | None
) -> None:
    sent = os.urandom(32) if reference else None
    tx_hash = parties.chain.transfer(parties.payer, parties.recipient, PRICE, sent)
    parties.chain.mine(CONFIRMATIONS)
    refused = await refusal(verifier(parties.chain), expected(parties, tx_hash, os.urandom(32)))
    assert refused.code == ErrorCode.PAYMENT_REFERENCE_MISSING


async def test_a_transfer_from_another_wallet_is_the_wrong_payer(parties: Parties) -> None:
    tx_hash, reference = paid(parties)
    terms = expected(parties, tx_hash, reference, payer=parties.stranger.upper().replace("X", "x"))
    refused = await refusal(verifier(parties.chain), terms)
    assert refused.code == ErrorCode.PAYMENT_WRONG_PAYER
    # The payer is compared without regard to case.
    same = expected(parties, tx_hash, reference, payer=parties.payer.upper().replace("X", "x"))
    assert (await verifier(parties.chain).verify(same)).amount == PRICE


async def test_a_block_after_the_quotes_expiry_is_expired(parties: Parties) -> None:
    tx_hash, reference = paid(parties)
    terms = expected(
        parties, tx_hash, reference, not_after=datetime.now(UTC) - timedelta(minutes=5)
    )
    refused = await refusal(verifier(parties.chain), terms)
    assert refused.code == ErrorCode.QUOTE_EXPIRED


async def test_an_rpc_on_another_chain_is_unavailable(parties: Parties) -> None:
    tx_hash, reference = paid(parties)
    refused = await refusal(
        verifier(parties.chain, chain_id=8453), expected(parties, tx_hash, reference)
    )
    assert refused.code == ErrorCode.CHAIN_UNAVAILABLE
    assert "chain 1337, not the configured 8453" in refused.message


async def test_a_dead_rpc_is_unavailable(parties: Parties) -> None:
    dead = verifier(parties.chain, rpc_url=f"http://127.0.0.1:{free_port()}")
    refused = await refusal(dead, expected(parties, "0x" + "ab" * 32, os.urandom(32)))
    assert refused.code == ErrorCode.CHAIN_UNAVAILABLE
    assert refused.retry_after_seconds is not None


async def test_an_rpc_that_does_not_answer_in_time_is_unavailable(parties: Parties) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        refused = await refusal(
            verifier(parties.chain, rpc_url=url, timeout=0.5),
            expected(parties, "0x" + "ab" * 32, os.urandom(32)),
        )
    assert refused.code == ErrorCode.CHAIN_UNAVAILABLE
    assert "did not answer" in refused.message


# What a broken RPC answers eth_getTransactionByHash with (its eth_chainId is right).
MALFORMED = {
    "not JSON": b"<html>502 Bad Gateway</html>",
    "a string for a transaction": b'{"jsonrpc":"2.0","id":ID,"result":"banana"}',
    "a number for an address": b'{"jsonrpc":"2.0","id":ID,"result":{"to":42,"from":7}}',
    "an error": b'{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"overloaded"}}',
}


@pytest.fixture
def broken_rpc(request: pytest.FixtureRequest) -> Iterator[str]:
    answer: bytes = MALFORMED[request.param]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            import json

            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body["method"] == "eth_chainId":
                out = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": "0x539"})
                content = out.encode()
            else:
                content = answer.replace(b"ID", str(body["id"]).encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("broken_rpc", sorted(MALFORMED), indirect=True)
async def test_a_malformed_rpc_answer_is_unavailable(parties: Parties, broken_rpc: str) -> None:
    tx_hash, reference = paid(parties)
    refused = await refusal(
        verifier(parties.chain, rpc_url=broken_rpc), expected(parties, tx_hash, reference)
    )
    assert refused.code == ErrorCode.CHAIN_UNAVAILABLE


def test_loading_the_verifier_leaves_the_recursion_limit() -> None:
    """web3 imports py_ecc, which raises the limit for the process (core.imports)."""
    script = textwrap.dedent(
        """
        import sys
        import dispatch_server.billing.evm
        import web3, eth_account
        print(sys.getrecursionlimit())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1000"]
