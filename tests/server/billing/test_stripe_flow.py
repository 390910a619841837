"""A free workspace buys `multi_inbox` by card, end to end: the 402 offer, a Checkout Session
created against a local server speaking Stripe's format, Stripe's signed webhook, and the
second inbox; with every way an event can fail to grant. Both databases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, error_code, signup
from tests.server.api.operator_helpers import (
    FAST_ARGON2,
    JWT_SECRET,
    Mailbox,
    get,
    post,
    verified_operator,
)
from tests.stripe_server import (
    TEST_API_KEY,
    WEBHOOK_SECRET,
    StripeServer,
    checkout_event,
    event_body,
    sign_stripe_payload,
)

# stripe 16 hands httpx its form body as `data=`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
OLD_SECRET = "whsec_dispatch_rotated_out_0123456789"


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[StripeServer]:
    server = StripeServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def paid_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    stripe_api: StripeServer,
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE="true",
        STRIPE_SECRET_KEY=TEST_API_KEY,
        STRIPE_WEBHOOK_SECRET=f"{WEBHOOK_SECRET},{OLD_SECRET}",
        STRIPE_API_BASE=stripe_api.base_url,
        DISPATCH_BILLING_SUCCESS_URL="https://app.example/paid?session={CHECKOUT_SESSION_ID}",
        JWT_SECRET_KEY=JWT_SECRET,  # operators, who claim workspaces
        **FAST_ARGON2,
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def post_event(base: str, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> httpx.Response:
    body = event_body(event)
    header = sign_stripe_payload(body, secret)
    return httpx.post(
        f"{base}/v1/webhooks/stripe",
        content=body,
        headers={"stripe-signature": header, "content-type": "application/json"},
    )


def checkout(base: str, account: dict[str, str], stripe_api: StripeServer) -> dict[str, Any]:
    created = httpx.post(f"{base}/v1/billing/checkout/session", json={}, headers=account)
    assert created.status_code == 201, created.text
    session: dict[str, Any] = stripe_api.sessions[created.json()["id"]]
    return session


def test_a_card_payment_unlocks_the_second_inbox(
    paid_server: LiveServer, stripe_api: StripeServer
) -> None:
    base = paid_server.base_url
    created = signup(base)
    account = bearer(created["account_key"])
    refused = httpx.post(f"{base}/v1/inboxes", json={}, headers=account)
    assert refused.status_code == 402
    assert refused.json()["upgrade"]["stripe"]["available"] is True

    answer = httpx.post(
        f"{base}/v1/billing/checkout/session",
        json={"product": "multi_inbox"},
        headers={**account, "idempotency-key": "checkout-1"},
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["id"].startswith("cs_test_") and body["url"].startswith("https://")
    assert (body["product"], body["amount"], body["currency"]) == ("multi_inbox", 900, "usd")
    session = stripe_api.sessions[body["id"]]
    workspace_id = created["workspace"]["id"]
    assert session["metadata"] == {"workspace_id": workspace_id, "product": "multi_inbox"}
    assert session["client_reference_id"] == workspace_id
    assert session["success_url"] == "https://app.example/paid?session={CHECKOUT_SESSION_ID}"
    sent = stripe_api.session_requests()[-1]
    assert sent.headers.get("idempotency-key") == f"{workspace_id}:checkout-1"

    # Paying is not enough by itself: the webhook grants.
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 402
    event = checkout_event(stripe_api.complete(body["id"]))
    granted = post_event(base, event)
    assert granted.status_code == 200
    assert granted.json() == {
        "received": True,
        "outcome": "granted",
        "duplicate": False,
        "reason": None,
    }
    second = httpx.post(f"{base}/v1/inboxes", json={}, headers=account)
    assert second.status_code == 201
    listed = httpx.get(f"{base}/v1/billing/entitlements", headers=account).json()
    assert listed["plan"] == "multi_inbox"
    assert [(e["product"], e["source"], e["source_ref"]) for e in listed["data"]] == [
        ("multi_inbox", "stripe", body["id"])
    ]
    # Stripe delivers again (it retries for days): nothing more happens.
    again = post_event(base, event)
    assert again.json()["duplicate"] is True and again.json()["outcome"] == "granted"


def test_a_checkout_of_a_workspace_an_operator_claimed_names_the_operator(
    paid_server: LiveServer, stripe_api: StripeServer
) -> None:
    agent, operator_mailbox = Mailbox(paid_server), Mailbox(paid_server)
    token = verified_operator(paid_server, operator_mailbox)
    operator_id = get(paid_server, "/auth/me", token=token).json()["operator"]["id"]
    minted = post(paid_server, "/v1/agent/claim-token", None, token=agent.inbox_key)
    assert minted.status_code == 201, minted.text
    claim = post(
        paid_server,
        "/v1/agent/claim",
        {"claim_email": agent.address, "claim_token": minted.json()["claim_token"]},
        token=token,
    )
    assert claim.status_code == 201, claim.text
    operator_account = bearer(claim.json()["account_key"])

    session = checkout(paid_server.base_url, operator_account, stripe_api)
    workspace_id = agent.account["workspace"]["id"]
    wanted = {"workspace_id": workspace_id, "product": "multi_inbox", "user_id": operator_id}
    assert session["metadata"] == wanted
    sent = stripe_api.session_requests()[-1].form
    assert sent["metadata"] == wanted
    assert sent["payment_intent_data"]["metadata"] == wanted
    assert sent["customer_email"] == operator_mailbox.address
    # The agent's own account key is the same workspace's: it names the operator too.
    own = checkout(paid_server.base_url, bearer(agent.account_key), stripe_api)
    assert own["metadata"]["user_id"] == operator_id

    paid = stripe_api.complete(session["id"])
    granted = post_event(paid_server.base_url, checkout_event(paid))
    assert granted.json()["outcome"] == "granted"
    listed = httpx.get(
        f"{paid_server.base_url}/v1/billing/entitlements", headers=operator_account
    ).json()
    assert listed["plan"] == "multi_inbox"


def test_the_rotated_out_secret_still_verifies(
    paid_server: LiveServer, stripe_api: StripeServer
) -> None:
    base = paid_server.base_url
    account = bearer(signup(base)["account_key"])
    session = checkout(base, account, stripe_api)
    answer = post_event(base, checkout_event(stripe_api.complete(session["id"])), OLD_SECRET)
    assert answer.json()["outcome"] == "granted"


@pytest.mark.parametrize(
    ("change", "outcome", "reason"),
    [
        ({"payment_status": "unpaid"}, "refused", "unpaid"),
        ({"amount_total": 899}, "refused", "underpaid"),
        ({"currency": "eur"}, "refused", "currency_mismatch"),
        ({"metadata": {}}, "refused", "metadata_missing"),
        ({"metadata": {"product": "multi_inbox", "workspace_id": "x"}}, "refused", "metadata"),
        ({"metadata_product": "gold"}, "refused", "product_unknown"),
    ],
)
def test_events_that_grant_nothing_are_acknowledged_and_recorded(
    paid_server: LiveServer,
    stripe_api: StripeServer,
    change: dict[str, Any],
    outcome: str,
    reason: str,
) -> None:
    base = paid_server.base_url
    account = bearer(signup(base)["account_key"])
    session = checkout(base, account, stripe_api)
    completed = stripe_api.complete(
        session["id"],
        payment_status=change.get("payment_status", "paid"),
        amount_total=change.get("amount_total"),
        currency=change.get("currency"),
    )
    if "metadata" in change:
        completed["metadata"] = change["metadata"]
    if "metadata_product" in change:
        completed["metadata"] = {**completed["metadata"], "product": change["metadata_product"]}
    answer = post_event(base, checkout_event(completed))
    assert answer.status_code == 200  # authentic: Stripe must stop delivering it
    assert answer.json()["outcome"] == outcome
    assert reason in answer.json()["reason"]
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 402


def test_an_event_for_a_workspace_of_no_one_here_is_refused(
    paid_server: LiveServer, stripe_api: StripeServer
) -> None:
    base = paid_server.base_url
    session = checkout(base, bearer(signup(base)["account_key"]), stripe_api)
    completed = stripe_api.complete(session["id"])
    ghost = "00000000-0000-4000-8000-000000000000"
    completed["metadata"] = {**completed["metadata"], "workspace_id": ghost}
    completed["client_reference_id"] = ghost
    answer = post_event(base, checkout_event(completed))
    assert (answer.json()["outcome"], "no workspace here" in answer.json()["reason"]) == (
        "refused",
        True,
    )


def test_other_event_types_are_ignored(paid_server: LiveServer, stripe_api: StripeServer) -> None:
    base = paid_server.base_url
    session = checkout(base, bearer(signup(base)["account_key"]), stripe_api)
    event = checkout_event(stripe_api.sessions[session["id"]], type="checkout.session.expired")
    assert post_event(base, event).json()["outcome"] == "ignored"
    other = {**event, "id": "evt_test_other", "type": "customer.created"}
    assert post_event(base, other).json()["outcome"] == "ignored"


@pytest.mark.parametrize(
    "tamper",
    ["no header", "wrong secret", "stale", "tampered body", "garbled header", "not json"],
)
def test_unverified_webhooks_are_400_and_grant_nothing(
    paid_server: LiveServer, stripe_api: StripeServer, tamper: str
) -> None:
    base = paid_server.base_url
    account = bearer(signup(base)["account_key"])
    session = checkout(base, account, stripe_api)
    body = event_body(checkout_event(stripe_api.complete(session["id"])))
    header: str | None = sign_stripe_payload(body, WEBHOOK_SECRET)
    if tamper == "no header":
        header = None
    elif tamper == "wrong secret":
        header = sign_stripe_payload(body, "whsec_someone_else_0123456789")
    elif tamper == "stale":
        header = sign_stripe_payload(body, WEBHOOK_SECRET, timestamp=1_600_000_000)
    elif tamper == "tampered body":
        event = json.loads(body)
        event["data"]["object"]["amount_total"] = 100_000
        body = json.dumps(event).encode()
    elif tamper == "garbled header":
        header = "t=abc,v1=zz,,=="
    elif tamper == "not json":
        body = b"\xff\xfe not json"
        header = sign_stripe_payload(body, WEBHOOK_SECRET)
    headers = {} if header is None else {"stripe-signature": header}
    answer = httpx.post(f"{base}/v1/webhooks/stripe", content=body, headers=headers)
    assert (answer.status_code, error_code(answer)) == (400, "stripe_signature_invalid")
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 402


def test_stripe_down_is_503_not_500(paid_server: LiveServer, stripe_api: StripeServer) -> None:
    account = bearer(signup(paid_server.base_url)["account_key"])
    stripe_api.fail(status=500, times=10)
    try:
        answer = httpx.post(
            f"{paid_server.base_url}/v1/billing/checkout/session", json={}, headers=account
        )
    finally:
        stripe_api.recover()
    assert (answer.status_code, error_code(answer)) == (503, "billing_unavailable")


def test_a_live_event_on_a_test_key_grants_nothing(
    paid_server: LiveServer, stripe_api: StripeServer
) -> None:
    """A test-mode secret among the webhook secrets must not let test cards grant in live
    mode, nor the other way round: the event's mode must be the key's."""
    base = paid_server.base_url
    account = bearer(signup(base)["account_key"])
    session = checkout(base, account, stripe_api)
    event = {**checkout_event(stripe_api.complete(session["id"])), "livemode": True}
    answer = post_event(base, event)
    assert (answer.json()["outcome"], "livemode_mismatch" in answer.json()["reason"]) == (
        "refused",
        True,
    )
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 402


@pytest.mark.parametrize("shape", ["nested 5000 deep", "created in year 3e12"])
def test_signed_bodies_no_server_can_read_are_no_500(
    paid_server: LiveServer, stripe_api: StripeServer, shape: str
) -> None:
    base = paid_server.base_url
    session = checkout(base, bearer(signup(base)["account_key"]), stripe_api)
    event = checkout_event(stripe_api.complete(session["id"]))
    if shape == "nested 5000 deep":
        body = ("[" * 5000 + "]" * 5000).encode()
    else:
        body = event_body({**event, "created": 10**20})
    header = sign_stripe_payload(body, WEBHOOK_SECRET)
    answer = httpx.post(
        f"{base}/v1/webhooks/stripe", content=body, headers={"stripe-signature": header}
    )
    if shape == "nested 5000 deep":
        assert (answer.status_code, error_code(answer)) == (400, "stripe_signature_invalid")
    else:
        assert (answer.status_code, answer.json()["outcome"]) == (200, "granted")


def charge_event(type: str, payment_intent: str, **fields: Any) -> dict[str, Any]:
    """A `charge.refunded` or `charge.dispute.created` event naming the PaymentIntent."""
    obj = {"object": "charge" if type == "charge.refunded" else "dispute"}
    obj.update({"id": "ch_test_" + payment_intent[-8:], "payment_intent": payment_intent})
    obj.update(fields)
    return {**checkout_event({}, type=type), "data": {"object": obj}}


@pytest.mark.parametrize(
    ("type", "fields"),
    [("charge.refunded", {"refunded": True}), ("charge.dispute.created", {})],
)
def test_a_payment_taken_back_revokes_what_it_granted(
    paid_server: LiveServer, stripe_api: StripeServer, type: str, fields: dict[str, Any]
) -> None:
    base = paid_server.base_url
    account = bearer(signup(base)["account_key"])
    session = checkout(base, account, stripe_api)
    paid = stripe_api.complete(session["id"])
    assert post_event(base, checkout_event(paid)).json()["outcome"] == "granted"
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 201

    partial = charge_event("charge.refunded", paid["payment_intent"], refunded=False)
    assert post_event(base, partial).json()["outcome"] == "ignored"
    taken = post_event(base, charge_event(type, paid["payment_intent"], **fields))
    assert taken.json()["outcome"] == "revoked"
    listed = httpx.get(f"{base}/v1/billing/entitlements", headers=account).json()
    assert (listed["plan"], listed["data"][0]["status"]) == ("free", "revoked")
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 402
    stranger = post_event(base, charge_event(type, "pi_test_nobodyhere", **fields))
    reason = "refunded" if type == "charge.refunded" else "disputed"
    assert (stranger.json()["outcome"], stranger.json()["reason"]) == (
        "ignored",
        f"{reason}: pi_test_nobodyhere",
    )


@pytest.mark.parametrize(
    ("type", "fields", "reason"),
    [
        ("charge.refunded", {"refunded": True}, "refunded"),
        ("charge.dispute.created", {}, "disputed"),
    ],
)
def test_a_payment_taken_back_before_its_completion_grants_nothing(
    paid_server: LiveServer,
    stripe_api: StripeServer,
    type: str,
    fields: dict[str, Any],
    reason: str,
) -> None:
    """Stripe does not order its events: a refund in full or a dispute can arrive before
    the session's completion. It is remembered, and the completion grants nothing."""
    base = paid_server.base_url
    account = bearer(signup(base)["account_key"])
    session = checkout(base, account, stripe_api)
    paid = stripe_api.complete(session["id"])
    intent = paid["payment_intent"]

    partial = post_event(base, charge_event("charge.refunded", intent, refunded=False))
    assert partial.json()["outcome"] == "ignored"  # a partial refund takes nothing back
    taken = post_event(base, charge_event(type, intent, **fields))
    assert taken.status_code == 200
    assert taken.json() == {
        "received": True,
        "outcome": "ignored",
        "duplicate": False,
        "reason": f"{reason}: {intent}",
    }
    completed = checkout_event(paid)
    late = post_event(base, completed)
    assert late.status_code == 200  # authentic: Stripe must stop delivering it
    assert late.json() == {
        "received": True,
        "outcome": "refused",
        "duplicate": False,
        "reason": f"payment_taken_back: {intent} was {reason} before this event",
    }
    again = post_event(base, completed)
    assert (again.json()["outcome"], again.json()["duplicate"]) == ("refused", True)
    listed = httpx.get(f"{base}/v1/billing/entitlements", headers=account).json()
    assert (listed["plan"], listed["data"]) == ("free", [])
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 402

    # Another payment of the same workspace is not tainted by it.
    other = stripe_api.complete(checkout(base, account, stripe_api)["id"])
    assert post_event(base, checkout_event(other)).json()["outcome"] == "granted"
    assert httpx.post(f"{base}/v1/inboxes", json={}, headers=account).status_code == 201


@pytest.mark.parametrize("paid_server", ["postgresql"], indirect=True)
def test_a_refund_and_its_completion_delivered_at_once_act_one_after_the_other(
    paid_server: LiveServer, stripe_api: StripeServer
) -> None:
    """Both events of one PaymentIntent wait for its lock: the second sees what the first
    recorded, and no entitlement stays active. PostgreSQL only: SQLite runs one write at a
    time already."""
    base = paid_server.base_url
    account = bearer(signup(base)["account_key"])
    paid = stripe_api.complete(checkout(base, account, stripe_api)["id"])
    intent = paid["payment_intent"]
    lock = sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(intent, 0)))

    async def deliver_both_while_held() -> list[str]:
        engine = create_async_engine(paid_server.database_url)
        try:
            async with engine.connect() as conn:
                transaction = await conn.begin()
                await conn.execute(lock)
                deliveries = [
                    asyncio.create_task(asyncio.to_thread(post_event, base, event))
                    for event in (
                        charge_event("charge.refunded", intent, refunded=True),
                        checkout_event(paid),
                    )
                ]
                done, _ = await asyncio.wait(deliveries, timeout=1.0)
                assert done == set()  # both wait for the PaymentIntent
                await transaction.rollback()
                answers = await asyncio.gather(*deliveries)
        finally:
            await engine.dispose()
        assert [answer.status_code for answer in answers] == [200, 200]
        return sorted(answer.json()["outcome"] for answer in answers)

    outcomes = asyncio.run(deliver_both_while_held())
    # Either order: granted then revoked, or taken back (ignored) then refused.
    assert outcomes in (["granted", "revoked"], ["ignored", "refused"])
    listed = httpx.get(f"{base}/v1/billing/entitlements", headers=account).json()
    assert listed["plan"] == "free"
    assert [e["status"] for e in listed["data"]] in ([], ["revoked"])
