"""A free workspace pays for `multi_inbox` in USDC on Solana, end to end: the SDK's autopay
against a gated server whose Solana rail reads a local JSON-RPC node (tests/chain/
solana_rpc.py: no validator installs here; the node runs real solders transactions on an SPL
token ledger). Both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from solders.keypair import Keypair

from dispatch_client import Dispatch
from dispatch_client.autopay import Autopay
from dispatch_client.autopay.solana import pay
from tests.chain.solana_rpc import LocalSolana
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import signup

MINT = str(Keypair().pubkey())
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
