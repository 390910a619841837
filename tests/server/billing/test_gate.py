"""The multi-inbox gate and its offer, quotes, and the refusals that need no chain."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from dispatch_server.billing import entitlements
from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, error_code, signup

EVM_TOKEN = "0x" + "11" * 20
EVM_RECIPIENT = "0x" + "22" * 20
SOLANA_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SOLANA_RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


@pytest.fixture(scope="module", params=BACKENDS)
def gated_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server that enforces the gate, with both rails configured (RPCs that never answer:
    nothing here reads a chain)."""
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE="true",
        DISPATCH_X402_EVM_RPC_URL="http://127.0.0.1:9/",
        DISPATCH_X402_EVM_PUBLIC_RPC_URL="https://rpc.example/base-sepolia",
        DISPATCH_X402_EVM_TOKEN=EVM_TOKEN,
        DISPATCH_X402_EVM_RECIPIENT=EVM_RECIPIENT,
        DISPATCH_X402_SOLANA_RPC_URL="http://127.0.0.1:9/",
        DISPATCH_X402_SOLANA_MINT=SOLANA_MINT,
        DISPATCH_X402_SOLANA_RECIPIENT=SOLANA_RECIPIENT,
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def test_a_second_inbox_on_the_free_plan_is_402_with_how_to_pay(gated_server: LiveServer) -> None:
    base = gated_server.base_url
    account = bearer(signup(base)["account_key"])
    refused = httpx.post(f"{base}/v1/inboxes", json={}, headers=account)
    assert refused.status_code == 402
    body = refused.json()
    assert body["error"]["code"] == "upgrade_required"
    product = body["upgrade"]["product"]
    assert (product["id"], product["price_cents"], product["usdc_amount"]) == (
        "multi_inbox",
        900,
        "9000000",
    )
    assert body["upgrade"]["stripe"] == {
        "available": False,
        "checkout_url": "/v1/billing/checkout/session",
    }
    assert body["x402Version"] == 1
    evm, solana = body["accepts"]
    assert (evm["network"], evm["payTo"], evm["asset"], evm["maxAmountRequired"]) == (
        "base-sepolia",
        EVM_RECIPIENT,
        EVM_TOKEN,
        "9000000",
    )
    assert evm["resource"] == f"{base}/v1/inboxes"
    assert evm["extra"]["rpc_url"] == "https://rpc.example/base-sepolia"
    assert evm["extra"]["reference"].startswith("0x") and len(evm["extra"]["reference"]) == 66
    assert solana["payTo"] == SOLANA_RECIPIENT and solana["asset"] == SOLANA_MINT
    # x402 v2: the same offers in the PAYMENT-REQUIRED header, networks as CAIP-2 ids.
    header = json.loads(base64.b64decode(refused.headers["payment-required"]))
    assert header["x402Version"] == 2
    assert [a["network"] for a in header["accepts"]] == [
        "eip155:84532",
        "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    ]
    assert header["accepts"][0]["extra"]["quote_id"] == evm["extra"]["quote_id"]
    # Asking again reuses the open quotes: retried 402s do not pile up references.
    again = httpx.post(f"{base}/v1/inboxes", json={}, headers=account).json()
    assert [a["extra"]["quote_id"] for a in again["accepts"]] == [
        a["extra"]["quote_id"] for a in body["accepts"]
    ]
    # The quote named in the 402 is the workspace's, and open.
    listed = httpx.get(f"{base}/v1/billing/x402/quotes", headers=account).json()["data"]
    assert {q["quote_id"] for q in listed} == {a["extra"]["quote_id"] for a in body["accepts"]}


def grant_multi_inbox(database_url: str, workspace_id: str) -> None:
    """Grant the product straight in the database, as a confirmed payment would."""

    async def grant() -> None:
        db = Database(database_url)
        try:
            await db.run_write(
                entitlements.grant,
                workspace_id=workspace_id,
                product="multi_inbox",
                source="x402",
                source_ref="0x" + "ab" * 32,
                now=utcnow(),
            )
        finally:
            await db.dispose()

    asyncio.run(grant())


def test_an_active_entitlement_lifts_the_gate(gated_server: LiveServer) -> None:
    base = gated_server.base_url
    created = signup(base)
    account = bearer(created["account_key"])
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 402
    before = httpx.get(f"{base}/v1/billing/entitlements", headers=account).json()
    assert before == {"plan": "free", "data": []}
    grant_multi_inbox(gated_server.database_url, created["workspace"]["id"])
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 201
    after = httpx.get(f"{base}/v1/billing/entitlements", headers=account).json()
    assert after["plan"] == "multi_inbox"
    assert [(e["product"], e["status"], e["source"]) for e in after["data"]] == [
        ("multi_inbox", "active", "x402")
    ]


def test_quotes_name_the_rail_reference_and_expiry(gated_server: LiveServer) -> None:
    base = gated_server.base_url
    account = bearer(signup(base)["account_key"])
    url = f"{base}/v1/billing/x402/quote"
    evm = httpx.post(url, json={"chain": "evm"}, headers=account)
    assert evm.status_code == 201
    quote = evm.json()
    assert (quote["chain"], quote["network"], quote["chain_id"], quote["amount"]) == (
        "evm",
        "base-sepolia",
        84532,
        "9000000",
    )
    assert quote["amount_display"] == "9" and quote["decimals"] == 6
    solana = httpx.post(url, json={"chain": "solana"}, headers=account).json()
    assert solana["chain_id"] is None and 32 <= len(solana["reference"]) <= 44
    payer = httpx.post(url, json={"chain": "evm", "payer": "0x" + "AB" * 20}, headers=account)
    assert payer.json()["payer"] == "0x" + "ab" * 20
    assert payer.json()["quote_id"] != quote["quote_id"]


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"chain": "tron"}, 400, "chain_unsupported", "chain"),
        ({"chain": "evm", "product": "gold"}, 400, "product_unknown", "product"),
        ({"chain": "evm", "payer": "0x12"}, 400, "invalid_request", "payer"),
        ({"chain": "solana", "payer": "0OIl"}, 400, "invalid_request", "payer"),
        ({"chain": 5}, 400, "invalid_request", "chain"),
    ],
)
def test_bad_quotes_are_refused_naming_the_field(
    gated_server: LiveServer, body: dict[str, object], status: int, code: str, param: str
) -> None:
    account = bearer(signup(gated_server.base_url)["account_key"])
    url = f"{gated_server.base_url}/v1/billing/x402/quote"
    answer = httpx.post(url, json=body, headers=account)
    assert (answer.status_code, error_code(answer), answer.json()["error"]["param"]) == (
        status,
        code,
        param,
    )


def test_confirmations_that_cannot_be_taken(gated_server: LiveServer) -> None:
    base = gated_server.base_url
    account = bearer(signup(base)["account_key"])
    other = bearer(signup(base)["account_key"])
    quote = httpx.post(f"{base}/v1/billing/x402/quote", json={}, headers=account).json()
    url = f"{base}/v1/billing/payments/confirm"
    tx = "0x" + "cd" * 32

    def refusal(body: dict[str, object], headers: dict[str, str] = account) -> tuple[int, str]:
        answer = httpx.post(url, json=body, headers=headers)
        return answer.status_code, error_code(answer)

    qid = quote["quote_id"]
    assert refusal({"quote_id": qid, "tx_hash": tx, "provider": "stripe"}) == (
        400,
        "stripe_confirmation_refused",
    )
    assert refusal({"quote_id": qid, "tx_hash": "cs_test_a1b2"}) == (
        400,
        "stripe_confirmation_refused",
    )
    assert refusal({"quote_id": qid, "tx_hash": tx}, other) == (400, "quote_invalid")
    assert refusal({"quote_id": "nope", "tx_hash": tx}) == (400, "quote_invalid")
    assert refusal({"quote_id": qid, "tx_hash": "0x12"}) == (400, "invalid_request")
    # The RPC at port 9 does not answer: nothing is recorded, retry later.
    assert refusal({"quote_id": qid, "tx_hash": tx}) == (503, "chain_unavailable")


def test_the_stripe_routes_say_when_stripe_is_not_configured(gated_server: LiveServer) -> None:
    base = gated_server.base_url
    account = bearer(signup(base)["account_key"])
    checkout = httpx.post(f"{base}/v1/billing/checkout/session", json={}, headers=account)
    assert (checkout.status_code, error_code(checkout)) == (503, "billing_unavailable")
    webhook = httpx.post(f"{base}/v1/webhooks/stripe", content=b"{}")
    assert (webhook.status_code, error_code(webhook)) == (503, "billing_unavailable")


def test_without_the_gate_inboxes_need_no_payment(live_server: LiveServer) -> None:
    account = bearer(signup(live_server.base_url)["account_key"])
    answer = httpx.post(f"{live_server.base_url}/v1/inboxes", json={}, headers=account)
    assert answer.status_code == 201
    assert make_settings("sqlite://").inboxes.enforce_multi_inbox_upgrade is False
