"""A free workspace pays for `multi_inbox` on chain, end to end, against a real local EVM
node (anvil) and a real ERC-20 (TestUSDC): the 402 offer, the SDK's autopay (quote, sign,
send, confirm, retry the create), no second payment after a crash, the price ceiling, and the
confirm route's refusals on real transactions, each leaving the ledger untouched. Both
databases."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest

from dispatch_client import AsyncDispatch, AutopayError, Dispatch, PaymentRequiredError
from dispatch_client.autopay import Autopay
from dispatch_client.autopay.evm import EvmPayer, address_of
from tests.chain.evm import EvmChain
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, error_code, signup
from tests.server.billing.ledger import NOTHING, PAID, Ledger, expire_quote, ledger

PRICE = 9_000_000  # the default: 9 USDC


@pytest.fixture(scope="module", params=BACKENDS)
def chain_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    evm_chain: EvmChain,
) -> Iterator[tuple[LiveServer, str]]:
    """A gated server taking EVM payments on the local chain, to a recipient of its own."""
    recipient = "0x" + secrets.token_hex(20)
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE="true",
        DISPATCH_X402_EVM_RPC_URL=evm_chain.rpc_url,
        DISPATCH_X402_EVM_CHAIN_ID=evm_chain.chain_id,
        DISPATCH_X402_EVM_NETWORK="anvil",
        DISPATCH_X402_EVM_TOKEN=evm_chain.token,
        DISPATCH_X402_EVM_RECIPIENT=recipient,
        DISPATCH_X402_EVM_CONFIRMATIONS=1,
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start(), recipient
    finally:
        thread.stop()
        next(urls, None)


def funded_wallet(evm_chain: EvmChain, usdc: int = 50_000_000) -> str:
    """A new private key whose address holds gas money and `usdc` base units of the token."""
    key = "0x" + secrets.token_hex(32)
    address = address_of(key)
    evm_chain.rpc("anvil_setBalance", address, hex(10**20))
    evm_chain.rpc("anvil_impersonateAccount", address)  # so the tests can send as it too
    if usdc:
        evm_chain.mint(evm_chain.token, address, usdc)
    return key


def test_autopay_pays_once_and_creates_the_second_inbox(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, recipient = chain_server
    key = funded_wallet(evm_chain)
    payer = address_of(key)
    created = signup(server.base_url)
    with Dispatch(api_key=created["account_key"], base_url=server.base_url) as d:
        with pytest.raises(PaymentRequiredError) as refused:
            d.inboxes.create()
        assert refused.value.code == "upgrade_required"
        accepts = refused.value.accepts
        assert accepts[0]["payTo"] == recipient and accepts[0]["asset"] == evm_chain.token

        inbox = d.inboxes.create(
            local_part=f"paid-{secrets.token_hex(3)}",
            autopay=Autopay(evm_private_key=key, max_amount="10"),
        )
        assert inbox.address.startswith("paid-")
        assert evm_chain.balance(recipient) == PRICE
        assert evm_chain.balance(payer) == 50_000_000 - PRICE
        entitlements = d.billing.entitlements()
        assert entitlements.plan == "multi_inbox"
        (granted,) = entitlements.data
        assert (granted.product, granted.source) == ("multi_inbox", "x402")
        # Paid up: the next inboxes need nothing, and nothing more is paid.
        d.inboxes.create(autopay=Autopay(evm_private_key=key, max_amount="10"))
        assert evm_chain.balance(payer) == 50_000_000 - PRICE


def test_a_payment_made_before_a_crash_is_confirmed_not_repeated(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, recipient = chain_server
    key = funded_wallet(evm_chain)
    payer = address_of(key)
    created = signup(server.base_url)
    with Dispatch(api_key=created["account_key"], base_url=server.base_url) as d:
        # An earlier run quoted and paid, then died before confirming.
        quote = d.billing.quote(chain="evm", payer=payer)
        with EvmPayer(evm_chain.rpc_url, evm_chain.chain_id) as wallet:
            reference = bytes.fromhex(quote.reference.removeprefix("0x"))
            tx = wallet.pay(key, quote.token, quote.recipient, quote.amount_units, reference)
            wallet.wait_for_confirmations(tx, 1, timeout=30)
        assert evm_chain.balance(payer) == 50_000_000 - PRICE
        d.inboxes.create(autopay=Autopay(evm_private_key=key, max_amount="10"))
        assert evm_chain.balance(payer) == 50_000_000 - PRICE  # not paid twice
        assert evm_chain.balance(recipient) >= PRICE
        (granted,) = d.billing.entitlements().data
        assert granted.source_ref == tx


def test_a_dearer_upgrade_than_max_amount_is_not_paid(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, _ = chain_server
    key = funded_wallet(evm_chain)
    created = signup(server.base_url)
    with Dispatch(api_key=created["account_key"], base_url=server.base_url) as d:
        with pytest.raises(AutopayError) as refused:
            d.inboxes.create(autopay=Autopay(evm_private_key=key, max_amount="8.99"))
        assert "above max_amount" in str(refused.value) and refused.value.tx_hash is None
        assert evm_chain.balance(address_of(key)) == 50_000_000
        assert d.billing.entitlements().plan == "free"


def test_async_autopay(chain_server: tuple[LiveServer, str], evm_chain: EvmChain) -> None:
    server, _ = chain_server
    key = funded_wallet(evm_chain)
    created = signup(server.base_url)

    async def main() -> str:
        async with AsyncDispatch(api_key=created["account_key"], base_url=server.base_url) as d:
            inbox = await d.inboxes.create(autopay=Autopay(evm_private_key=key, max_amount=9))
            plan = (await d.billing.entitlements()).plan
            return f"{plan}:{inbox.workspace_id}"

    assert anyio.run(main) == f"multi_inbox:{created['workspace']['id']}"
    assert evm_chain.balance(address_of(key)) == 50_000_000 - PRICE


def test_the_confirm_route_on_real_transactions(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, recipient = chain_server
    base = server.base_url
    key = funded_wallet(evm_chain)
    payer = address_of(key).lower()
    account = bearer(signup(base)["account_key"])
    confirm = f"{base}/v1/billing/payments/confirm"

    def quote() -> dict[str, str]:
        answer = httpx.post(f"{base}/v1/billing/x402/quote", json={}, headers=account)
        return dict(answer.json())

    def reference(q: dict[str, str]) -> bytes:
        return bytes.fromhex(q["reference"][2:])

    first = quote()
    evm_chain.mint(evm_chain.other_token, payer, PRICE)
    wrong_token = evm_chain.transfer(
        payer, recipient, PRICE, reference(first), token=evm_chain.other_token
    )
    underpaid = evm_chain.transfer(payer, recipient, PRICE - 1, reference(first))
    no_reference = evm_chain.transfer(payer, recipient, PRICE)
    elsewhere = evm_chain.transfer(payer, "0x" + "77" * 20, PRICE, reference(first))
    for tx, status, code in [
        (wrong_token, 422, "payment_wrong_token"),
        (underpaid, 422, "payment_underpaid"),
        (no_reference, 422, "payment_reference_missing"),
        (elsewhere, 422, "payment_wrong_recipient"),
        ("0x" + "00" * 32, 404, "transaction_not_found"),
    ]:
        answer = httpx.post(
            confirm, json={"quote_id": first["quote_id"], "tx_hash": tx}, headers=account
        )
        assert (answer.status_code, error_code(answer)) == (status, code), tx

    paid = evm_chain.transfer(payer, recipient, PRICE, reference(first))
    paying = {"quote_id": first["quote_id"], "tx_hash": paid, "payer": payer}
    granted = httpx.post(confirm, json=paying, headers=account)
    assert granted.status_code == 200, granted.text
    assert granted.json()["replayed"] is False
    assert granted.json()["entitlement"]["status"] == "active"
    again = httpx.post(confirm, json=paying, headers=account)
    assert (again.status_code, again.json()["replayed"]) == (200, True)
    # The same transaction cannot pay another quote, of this workspace or another's.
    other_account = bearer(signup(base)["account_key"])
    other_quote = httpx.post(f"{base}/v1/billing/x402/quote", json={}, headers=other_account)
    reused = httpx.post(
        confirm,
        json={"quote_id": other_quote.json()["quote_id"], "tx_hash": paid},
        headers=other_account,
    )
    assert (reused.status_code, error_code(reused)) == (409, "transaction_already_used")


def test_a_quote_bound_to_a_payer_is_not_paid_by_another(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, recipient = chain_server
    base = server.base_url
    bound, other = funded_wallet(evm_chain), funded_wallet(evm_chain)
    account = bearer(signup(base)["account_key"])
    quote = httpx.post(
        f"{base}/v1/billing/x402/quote", json={"payer": address_of(bound)}, headers=account
    ).json()
    paid = evm_chain.transfer(
        address_of(other).lower(), recipient, PRICE, bytes.fromhex(quote["reference"][2:])
    )
    confirm = f"{base}/v1/billing/payments/confirm"
    for payer in (None, address_of(other)):  # naming the other payer does not rebind the quote
        body = {"quote_id": quote["quote_id"], "tx_hash": paid, "payer": payer}
        answer = httpx.post(confirm, json=body, headers=account)
        assert (answer.status_code, error_code(answer)) == (422, "payment_wrong_payer")


def test_concurrent_autopay_creates_with_one_wallet_pay_once(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, _ = chain_server
    key = funded_wallet(evm_chain)
    created = signup(server.base_url)

    async def main() -> list[str]:
        async with AsyncDispatch(api_key=created["account_key"], base_url=server.base_url) as d:
            autopay = Autopay(evm_private_key=key, max_amount="10")
            inboxes = await asyncio.gather(*(d.inboxes.create(autopay=autopay) for _ in range(4)))
            return [inbox.id for inbox in inboxes]

    made = anyio.run(main)
    assert len(set(made)) == 4  # every create succeeded
    assert evm_chain.balance(address_of(key)) == 50_000_000 - PRICE  # and one paid


class Payment:
    """One workspace's quote and its confirmations, through the routes."""

    def __init__(self, server: LiveServer, evm_chain: EvmChain) -> None:
        self.server, self.chain = server, evm_chain
        created = signup(server.base_url)
        self.workspace_id: str = created["workspace"]["id"]
        self.account = bearer(created["account_key"])
        self.payer = address_of(funded_wallet(evm_chain)).lower()

    def quote(self) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.server.base_url}/v1/billing/x402/quote", json={}, headers=self.account
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def pay(self, quote: dict[str, Any], recipient: str, sender: str | None = None) -> str:
        return self.chain.transfer(
            sender or self.payer,
            recipient,
            PRICE,
            bytes.fromhex(quote["reference"][2:]),
            gas=100_000,  # given, so that a transfer bound to revert is mined, not refused
        )

    def confirm(self, quote: dict[str, Any], tx_hash: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/v1/billing/payments/confirm",
            json={"quote_id": quote["quote_id"], "tx_hash": tx_hash},
            headers=self.account,
        )

    def ledger(self) -> Ledger:
        return ledger(self.server, self.workspace_id, self.account)

    def assert_paid_by(self, quote: dict[str, Any], tx_hash: str) -> None:
        answer = self.confirm(quote, tx_hash)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["replayed"], answer.json()["entitlement"]["status"]) == (
            False,
            "active",
        )
        assert self.ledger() == PAID


def test_a_transfer_mined_after_the_quote_expired_is_410_and_grants_nothing(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, recipient = chain_server
    payment = Payment(server, evm_chain)
    quote = payment.quote()
    late = payment.pay(quote, recipient)
    expire_quote(server, quote["quote_id"], datetime.now(UTC) - timedelta(minutes=10))

    refused = payment.confirm(quote, late)
    assert (refused.status_code, error_code(refused)) == (410, "quote_expired")
    assert payment.ledger() == NOTHING
    # The workspace can still pay: a new quote, paid in time.
    fresh = payment.quote()
    assert fresh["quote_id"] != quote["quote_id"]
    payment.assert_paid_by(fresh, payment.pay(fresh, recipient))


def test_a_reverted_transfer_is_422_and_grants_nothing(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, recipient = chain_server
    payment = Payment(server, evm_chain)
    quote = payment.quote()
    broke = address_of(funded_wallet(evm_chain, usdc=0)).lower()  # gas, and no USDC
    reverted = payment.pay(quote, recipient, sender=broke)
    assert int(evm_chain.receipt(reverted)["status"], 16) == 0

    refused = payment.confirm(quote, reverted)
    assert (refused.status_code, error_code(refused)) == (422, "transaction_failed")
    assert payment.ledger() == NOTHING
    again = payment.confirm(quote, reverted)  # nothing was remembered of it either
    assert (again.status_code, error_code(again)) == (422, "transaction_failed")
    # The same quote is still open to a good payment.
    payment.assert_paid_by(quote, payment.pay(quote, recipient))


def test_a_pending_transfer_is_409_with_retry_after_then_confirms_once_mined(
    chain_server: tuple[LiveServer, str], evm_chain: EvmChain
) -> None:
    server, recipient = chain_server
    payment = Payment(server, evm_chain)
    quote = payment.quote()
    with evm_chain.paused():
        pending = payment.pay(quote, recipient)
        refused = payment.confirm(quote, pending)
        assert (refused.status_code, error_code(refused)) == (409, "transaction_unconfirmed")
        assert int(refused.headers["retry-after"]) >= 1
        assert payment.ledger() == NOTHING
    # Mined on leaving: confirming the same transaction again grants, once.
    payment.assert_paid_by(quote, pending)
