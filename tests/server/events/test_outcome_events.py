"""The outcome events of sent mail and the billing events, written by the real paths and read
from `/v1/events` with the payloads docs/events.md gives them, on both databases: a send
through the API and the `smtp` transport to a real relay (relay_server.py) is
`message.sent`, a recipient it refuses `message.bounced`, every recipient refused
`message.failed`; SES feedback through POST /v1/webhooks/sns is `message.delivered`,
`message.bounced` and `message.complained`; a send whose recipients were all suppressed
before it went is `message.failed` with status `suppressed`; a card payment through POST
/v1/webhooks/stripe is `entitlement.granted`, and its refund `entitlement.revoked`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dispatch_server.core.clock import utcnow
from dispatch_server.domain import sends, suppressions, workspaces
from dispatch_server.events import log as event_log
from dispatch_server.services import Services
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, signup
from tests.server.api.test_send import Agent
from tests.server.api.test_sns_webhook import Feedback, bounce, notification, ses_event
from tests.server.events.test_event_stream import Stream
from tests.server.outbound.test_smtp_transport import Relay
from tests.server.outbound.test_sns import TOPIC
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

OUTCOME_FIELDS = {"inbox_id", "sent_id", "recipients", "status", "detail"}
REFUSED = {
    "ghost@acme.test": "550 5.1.1 No such user",
    "closed@acme.test": "553 5.7.1 Relaying denied",
}


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    started = Relay(tmp_path_factory.mktemp("relay"), {"rcpt_replies": REFUSED})
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[StripeServer]:
    server = StripeServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    relay: Relay,
    stripe_api: StripeServer,
) -> Iterator[tuple[LiveServer, Services]]:
    """Sends go to the relay; SNS feedback and Stripe's webhooks are open."""
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_OUTBOUND_PROVIDER="smtp",
        DISPATCH_SMTP_RELAY_HOST="127.0.0.1",
        DISPATCH_SMTP_RELAY_PORT=relay.port,
        DISPATCH_SMTP_RELAY_SECURITY="none",
        DISPATCH_SNS_TOPIC_ARNS=TOPIC,
        DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE="true",
        STRIPE_SECRET_KEY=TEST_API_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=stripe_api.base_url,
        DISPATCH_BILLING_SUCCESS_URL="https://app.example/paid?session={CHECKOUT_SESSION_ID}",
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start(), thread.app.state.services
    finally:
        thread.stop()
        next(urls, None)


def events(live: LiveServer, account_key: str, types: str, count: int) -> list[dict[str, Any]]:
    """The workspace's first `count` events of `types`, read from `/v1/events` from the
    start."""
    stream = Stream(f"{live.base_url}/v1/events", bearer(account_key), after=0, types=types)
    try:
        return [stream.next()["json"] for _ in range(count)]
    finally:
        stream.close()


def send(agent: Agent, *to: str) -> dict[str, Any]:
    response = agent.send(to=list(to), subject="Hello", text="Your code is 551234")
    assert response.status_code == 201, response.text
    sent: dict[str, Any] = response.json()
    return sent


def outcome(event: dict[str, Any], agent: Agent, sent: dict[str, Any]) -> dict[str, Any]:
    """The event's payload, after checking its documented shape and whose it is."""
    data: dict[str, Any] = event["data"]
    assert set(data) == OUTCOME_FIELDS
    assert (event["inbox_id"], data["inbox_id"], data["sent_id"]) == (
        agent.inbox_id,
        agent.inbox_id,
        sent["id"],
    )
    assert isinstance(data["detail"], dict)
    return data


def test_a_send_through_the_relay_is_sent_and_a_refused_recipient_bounced(
    server: tuple[LiveServer, Services],
) -> None:
    live, _ = server
    agent = Agent(live)
    sent = send(agent, "one@acme.test", "ghost@acme.test")
    assert sent["status"] == "sent"
    got = events(live, agent.account_key, "message.sent,message.bounced", 2)
    assert [e["type"] for e in got] == ["message.sent", "message.bounced"]
    sent_data, bounced = (outcome(e, agent, sent) for e in got)
    assert (sent_data["recipients"], sent_data["status"]) == (["one@acme.test"], "sent")
    assert (bounced["recipients"], bounced["status"]) == (["ghost@acme.test"], "bounced")
    assert bounced["detail"] == {"reason": "refused"}


def test_a_send_every_recipient_of_which_the_relay_refuses_failed(
    server: tuple[LiveServer, Services],
) -> None:
    live, _ = server
    agent = Agent(live)
    sent = send(agent, "ghost@acme.test", "closed@acme.test")
    [event] = events(live, agent.account_key, "message.sent,message.failed", 1)
    assert event["type"] == "message.failed"
    data = outcome(event, agent, sent)
    assert (data["recipients"], data["status"]) == (
        ["ghost@acme.test", "closed@acme.test"],
        "rejected",
    )
    assert "550 5.1.1 No such user" in data["detail"]["reason"]


def test_ses_feedback_is_delivered_bounced_and_complained(
    server: tuple[LiveServer, Services],
) -> None:
    live, services = server
    feedback = Feedback(live, services)
    agent = Agent(live)
    sent = send(agent, "user@example.com", "soft@example.com", "angry@example.com")
    documents = [
        ses_event("Delivery", sent, recipients=["user@example.com"]),
        bounce(sent, "soft@example.com", "Transient"),  # SES tries again: no event
        bounce(sent, "soft@example.com"),
        ses_event(
            "Complaint",
            sent,
            complainedRecipients=[{"emailAddress": "angry@example.com"}],
            complaintFeedbackType="abuse",
        ),
    ]
    for document in documents:
        answer = feedback.post(notification(document))
        assert answer.json() == {"outcome": "stored"}, answer.text
    types = "message.delivered,message.bounced,message.complained"
    got = events(live, agent.account_key, types, 3)
    assert [e["type"] for e in got] == types.split(",")
    delivered, bounced, complained = (outcome(e, agent, sent) for e in got)
    assert (delivered["recipients"], delivered["status"]) == (["user@example.com"], "delivered")
    assert (bounced["recipients"], bounced["status"]) == (["soft@example.com"], "bounced")
    assert bounced["detail"]["bounceType"] == "Permanent"
    assert (complained["recipients"], complained["status"]) == (
        ["angry@example.com"],
        "complained",
    )
    assert complained["detail"]["complaintFeedbackType"] == "abuse"


def post_stripe(base: str, event: dict[str, Any]) -> dict[str, Any]:
    body = event_body(event)
    answer = httpx.post(
        f"{base}/v1/webhooks/stripe",
        content=body,
        headers={
            "stripe-signature": sign_stripe_payload(body, WEBHOOK_SECRET),
            "content-type": "application/json",
        },
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_card_payment_is_granted_and_its_refund_revoked(
    server: tuple[LiveServer, Services], stripe_api: StripeServer
) -> None:
    live, _ = server
    created = signup(live.base_url)
    account = bearer(created["account_key"])
    answer = httpx.post(f"{live.base_url}/v1/billing/checkout/session", json={}, headers=account)
    assert answer.status_code == 201, answer.text
    session_id = answer.json()["id"]
    paid = stripe_api.complete(session_id)
    assert post_stripe(live.base_url, checkout_event(paid))["outcome"] == "granted"
    refund = {
        **checkout_event({}, type="charge.refunded"),
        "data": {
            "object": {
                "object": "charge",
                "id": "ch_test_" + paid["payment_intent"][-8:],
                "payment_intent": paid["payment_intent"],
                "refunded": True,
            }
        },
    }
    assert post_stripe(live.base_url, refund)["outcome"] == "revoked"
    types = "entitlement.granted,entitlement.revoked"
    granted, revoked = events(live, created["account_key"], types, 2)
    assert (granted["type"], granted["inbox_id"]) == ("entitlement.granted", None)
    assert granted["data"] == {
        "product": "multi_inbox",
        "source": "stripe",
        "source_ref": session_id,
    }
    assert (revoked["type"], revoked["inbox_id"]) == ("entitlement.revoked", None)
    assert revoked["data"] == {"product": "multi_inbox", "source": "stripe", "reason": "refunded"}


@pytest.mark.anyio
async def test_a_send_whose_recipients_were_all_suppressed_before_it_went_failed(
    services: Services,
) -> None:
    """Queued, then every recipient suppressed (a complaint about other mail), then handed
    over: nothing goes, the send is `suppressed`, and the log says `message.failed` with that
    status, committed with it."""
    db = services.db
    signup_ = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part="sender"
    )
    inbox = signup_.inbox
    sender = await db.run_read(sends.sender_of, inbox.workspace_id, inbox.id)
    fields = sends.SendFields(to=("a@example.com", "b@example.com"), subject="x", text="x")
    draft = sends.draft(sender, fields, None, max_recipients=50, max_attachment_bytes=1024)
    queued = await db.run_write(
        sends.queue, draft, provider="local", now=utcnow(), send_limit=100, recipient_limit=100
    )
    await db.run_write(
        suppressions.suppress,
        inbox.workspace_id,
        ["b@example.com", "a@example.com"],
        reason="complaint",
        detail=None,
        outbound_message_id=None,
        now=utcnow(),
    )
    await services.outbox.hand_over(queued.id)
    assert (await db.run_read(sends.get_sent, inbox.id, queued.id)).status == "suppressed"
    found = await db.run_read(
        event_log.list_after, inbox.workspace_id, after=0, types=("message.failed",)
    )
    [event] = found
    assert event.inbox_id == inbox.id
    assert event.payload == {
        "inbox_id": inbox.id,
        "sent_id": queued.id,
        "recipients": ["a@example.com", "b@example.com"],
        "status": "suppressed",
        "detail": {},
    }
