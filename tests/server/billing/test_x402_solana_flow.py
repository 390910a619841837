"""A free workspace pays for `multi_inbox` in USDC on Solana, end to end: the SDK's autopay
against a gated server whose Solana rail reads a local JSON-RPC node (tests/chain/
solana_rpc.py: no validator installs here; the node runs real solders transactions on an SPL
token ledger); and `POST /v1/billing/payments/confirm`'s refusals of Solana payments, each
leaving the ledger untouched and the quote still payable. Both databases."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from solders.signature import Signature

from dispatch_client import Dispatch
from dispatch_client.autopay import Autopay
from dispatch_client.autopay.solana import pay, transfer_transaction
from tests.chain.solana_rpc import LocalSolana
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, error_code, signup
from tests.server.billing.ledger import NOTHING, PAID, Ledger, ledger

MINT = str(Keypair().pubkey())
OTHER_MINT = str(Keypair().pubkey())
RECIPIENT = str(Keypair().pubkey())
PRICE = 9_000_000


@pytest.fixture(scope="module")
def node() -> Iterator[LocalSolana]:
    solana = LocalSolana().start()
    solana.mint_to(RECIPIENT, MINT, 0)  # the recipient's token account exists
    try:
        yield solana
    finally:
        solana.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def solana_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, node: LocalSolana
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE="true",
        DISPATCH_X402_SOLANA_RPC_URL=node.url,
        DISPATCH_X402_SOLANA_MINT=MINT,
        DISPATCH_X402_SOLANA_RECIPIENT=RECIPIENT,
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def wallet(node: LocalSolana, usdc: int = 20_000_000) -> Keypair:
    payer = Keypair()
    node.fund(str(payer.pubkey()), MINT, usdc)
    return payer


def test_autopay_on_solana_pays_once_and_creates(
    solana_server: LiveServer, node: LocalSolana
) -> None:
    payer = wallet(node)
    before = node.balance(RECIPIENT, MINT)
    created = signup(solana_server.base_url)
    with Dispatch(api_key=created["account_key"], base_url=solana_server.base_url) as d:
        autopay = Autopay(solana_secret_key=bytes(payer), max_amount="9")
        inbox = d.inboxes.create(autopay=autopay)
        assert inbox.workspace_id == created["workspace"]["id"]
        assert node.balance(str(payer.pubkey()), MINT) == 20_000_000 - PRICE
        assert node.balance(RECIPIENT, MINT) == before + PRICE
        (granted,) = d.billing.entitlements().data
        assert (granted.source, granted.status) == ("x402", "active")
        d.inboxes.create(autopay=autopay)  # paid up: nothing more is paid
        assert node.balance(str(payer.pubkey()), MINT) == 20_000_000 - PRICE


def test_a_solana_payment_made_before_a_crash_is_confirmed_not_repeated(
    solana_server: LiveServer, node: LocalSolana
) -> None:
    payer = wallet(node)
    created = signup(solana_server.base_url)
    with Dispatch(api_key=created["account_key"], base_url=solana_server.base_url) as d:
        quote = d.billing.quote(chain="solana", payer=str(payer.pubkey()))
        signature = pay(node.url, payer, MINT, RECIPIENT, PRICE, 6, quote.reference)
        d.inboxes.create(autopay=Autopay(solana_secret_key=bytes(payer), max_amount="9"))
        assert node.balance(str(payer.pubkey()), MINT) == 20_000_000 - PRICE
        (granted,) = d.billing.entitlements().data
        assert granted.source_ref == signature


class Payment:
    """One workspace's Solana quotes and confirmations, through the routes."""

    def __init__(self, server: LiveServer, node: LocalSolana) -> None:
        self.server, self.node = server, node
        created = signup(server.base_url)
        self.workspace_id: str = created["workspace"]["id"]
        self.account = bearer(created["account_key"])
        self.payer = wallet(node)

    def quote(self, payer: str | None = None) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.server.base_url}/v1/billing/x402/quote",
            json={"chain": "solana", "payer": payer},
            headers=self.account,
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def pay(
        self,
        quote: dict[str, Any],
        *,
        payer: Keypair | None = None,
        amount: int = PRICE,
        mint: str = MINT,
        recipient: str = RECIPIENT,
        reference: str | None = None,
        skip_preflight: bool = False,
    ) -> str:
        """A transfer as a wallet sends it (the SDK's transaction), over JSON-RPC."""
        blockhash = self.node.handle("getLatestBlockhash", [])["value"]["blockhash"]
        tx = transfer_transaction(
            payer or self.payer,
            mint,
            recipient,
            amount,
            6,
            reference or quote["reference"],
            blockhash,
        )
        config = {"encoding": "base64", "skipPreflight": skip_preflight}
        answer = httpx.post(
            self.node.url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "sendTransaction",
                "params": [base64.b64encode(bytes(tx)).decode(), config],
            },
        ).json()
        assert "result" in answer, answer
        return str(answer["result"])

    def confirm(self, quote: dict[str, Any], signature: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/v1/billing/payments/confirm",
            json={"quote_id": quote["quote_id"], "tx_hash": signature},
            headers=self.account,
        )

    def ledger(self) -> Ledger:
        return ledger(self.server, self.workspace_id, self.account)

    def assert_paid_by(self, quote: dict[str, Any], signature: str) -> None:
        answer = self.confirm(quote, signature)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["chain"], body["tx_hash"], body["replayed"]) == ("solana", signature, False)
        assert body["entitlement"]["status"] == "active"
        assert self.ledger() == PAID


def elsewhere(node: LocalSolana) -> str:
    """A wallet with a token account of the mint: a transfer to it lands."""
    owner = str(Keypair().pubkey())
    node.mint_to(owner, MINT, 0)
    return owner


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        ("another mint", 422, "payment_wrong_token"),
        ("another recipient", 422, "payment_wrong_recipient"),
        ("underpaid", 422, "payment_underpaid"),
        ("another quote's reference", 422, "payment_reference_missing"),
        ("another payer than the quote's", 422, "payment_wrong_payer"),
        ("failed on chain", 422, "transaction_failed"),
        ("never sent", 404, "transaction_not_found"),
    ],
)
def test_the_confirm_route_refuses_solana_payments_that_do_not_pay_the_quote(
    solana_server: LiveServer, node: LocalSolana, refusal: str, status: int, code: str
) -> None:
    payment = Payment(solana_server, node)
    bound = refusal == "another payer than the quote's"
    quote = payment.quote(payer=str(payment.payer.pubkey()) if bound else None)
    if refusal == "another mint":
        node.fund(str(payment.payer.pubkey()), OTHER_MINT, PRICE)
        node.mint_to(RECIPIENT, OTHER_MINT, 0)
        signature = payment.pay(quote, mint=OTHER_MINT)
    elif refusal == "another recipient":
        signature = payment.pay(quote, recipient=elsewhere(node))
    elif refusal == "underpaid":
        signature = payment.pay(quote, amount=PRICE - 1)
    elif refusal == "another quote's reference":
        signature = payment.pay(quote, reference=str(Keypair().pubkey()))
    elif refusal == "another payer than the quote's":
        signature = payment.pay(quote, payer=wallet(node))
    elif refusal == "failed on chain":
        broke = wallet(node, usdc=PRICE - 1)
        signature = payment.pay(quote, payer=broke, skip_preflight=True)
        assert node.transactions[signature].err is not None
    else:
        signature = str(Signature.new_unique())

    refused = payment.confirm(quote, signature)
    assert (refused.status_code, error_code(refused)) == (status, code)
    assert payment.ledger() == NOTHING
    again = payment.confirm(quote, signature)  # nothing was remembered of it either
    assert (again.status_code, error_code(again)) == (status, code)
    # The quote is still open to a good payment.
    payment.assert_paid_by(quote, payment.pay(quote))


def test_a_solana_payment_not_yet_finalized_is_409_then_confirms_once_finalized(
    solana_server: LiveServer, node: LocalSolana
) -> None:
    payment = Payment(solana_server, node)
    quote = payment.quote()
    node.landing = "confirmed"
    try:
        signature = payment.pay(quote)
    finally:
        node.landing = "finalized"

    refused = payment.confirm(quote, signature)
    assert (refused.status_code, error_code(refused)) == (409, "transaction_unconfirmed")
    assert int(refused.headers["retry-after"]) >= 1
    assert payment.ledger() == NOTHING
    node.finalize(signature)
    payment.assert_paid_by(quote, signature)


def test_a_solana_payment_in_a_block_after_the_quotes_expiry_is_410(
    solana_server: LiveServer, node: LocalSolana
) -> None:
    payment = Payment(solana_server, node)
    quote = payment.quote()
    late = payment.pay(quote)
    expires_at = datetime.fromisoformat(quote["expires_at"].replace("Z", "+00:00"))
    node.set_block_time(late, int(expires_at.timestamp()) + 1)

    refused = payment.confirm(quote, late)
    assert (refused.status_code, error_code(refused)) == (410, "quote_expired")
    assert payment.ledger() == NOTHING
    payment.assert_paid_by(quote, payment.pay(quote))


def test_a_solana_signature_that_paid_one_quote_pays_no_other(
    solana_server: LiveServer, node: LocalSolana
) -> None:
    first, second = Payment(solana_server, node), Payment(solana_server, node)
    first_quote = first.quote()
    signature = first.pay(first_quote)
    first.assert_paid_by(first_quote, signature)

    second_quote = second.quote()
    for payment, quote in [(second, second_quote), (first, first.quote())]:
        reused = payment.confirm(quote, signature)
        assert (reused.status_code, error_code(reused)) == (409, "transaction_already_used")
    assert second.ledger() == NOTHING
    assert first.ledger() == PAID
    second.assert_paid_by(second_quote, second.pay(second_quote))
