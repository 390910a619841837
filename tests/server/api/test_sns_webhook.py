"""POST /v1/webhooks/sns over real HTTP on both databases: real SNS messages signed with an
RSA key and certificate made here (served through the injected certificate fetcher),
carrying SES events about mail the server sent. Forgeries change nothing; authentic events
move the sent message's state, suppress after a permanent bounce or a complaint, and are
applied once per SNS MessageId."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.db import tables as t
from dispatch_server.outbound.feedback.sns import SnsVerifier
from dispatch_server.services import Services, SnsChecks
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import error_code
from tests.server.api.test_send import Agent
from tests.server.outbound.test_sns import (
    CERT_URL,
    NOTIFICATION,
    OTHER_KEY,
    SUBSCRIBE_URL,
    SUBSCRIPTION,
    TOPIC,
    UNSUBSCRIBE,
    CertificateServer,
    sign,
)


class SubscribeUrls:
    """The injected visitor of SubscribeURLs: records each visit."""

    def __init__(self) -> None:
        self.visited: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.visited.append(url)
        return b"<ConfirmSubscriptionResponse/>"


class Feedback:
    def __init__(self, server: LiveServer, services: Services) -> None:
        self.server = server
        self.certificates = CertificateServer()
        self.subscribe_urls = SubscribeUrls()
        services.sns = SnsChecks(
            SnsVerifier((TOPIC,), fetch_certificate=self.certificates),
            fetch_subscribe_url=self.subscribe_urls,
        )

    def post(self, document: dict[str, Any] | bytes) -> httpx.Response:
        content = document if isinstance(document, bytes) else json.dumps(document).encode()
        return httpx.post(
            f"{self.server.base_url}/v1/webhooks/sns",
            content=content,
            headers={"content-type": "text/plain; charset=UTF-8"},
            timeout=30,
        )


@pytest.fixture(scope="module", params=BACKENDS)
def sns_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Services]]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(next(urls), DISPATCH_SNS_TOPIC_ARNS=TOPIC)
    thread = _ServerThread(settings)
    try:
        live = thread.start()
        yield live, thread.app.state.services
    finally:
        thread.stop()
        next(urls, None)


@pytest.fixture
def feedback(sns_server: tuple[LiveServer, Services]) -> Feedback:
    return Feedback(*sns_server)


def ses_event(event_type: str, sent: dict[str, Any], **event: Any) -> str:
    """An SES event as a configuration set publishes it, about `sent` (tagged by our id)."""
    recipients = [address.rpartition("<")[2].strip(">") for address in sent["to"]]
    document: dict[str, Any] = {
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-12-01T10:00:00.000Z",
            "source": sent["from"],
            "messageId": sent["provider_message_id"] or f"0100-{sent['id']}",
            "destination": recipients,
            "tags": {"dispatch_outbound_id": [sent["id"]]},
        },
    }
    key = {"DeliveryDelay": "deliveryDelay"}.get(event_type, event_type.lower())
    document[key] = {"timestamp": "2026-12-01T10:00:01.000Z", **event}
    return json.dumps(document)


def notification(message: str, *, message_id: str | None = None, **options: Any) -> dict[str, Any]:
    document = {key: value for key, value in NOTIFICATION.items() if key != "Subject"} | {
        "Message": message,
        "MessageId": message_id or str(uuid.uuid4()),
    }
    return sign(document, **options)


def bounce(sent: dict[str, Any], recipient: str, bounce_type: str = "Permanent") -> str:
    return ses_event(
        "Bounce",
        sent,
        bounceType=bounce_type,
        bounceSubType="General",
        bouncedRecipients=[
            {"emailAddress": recipient, "diagnosticCode": "smtp; 550 5.1.1 unknown"}
        ],
    )


def sent_mail(server: LiveServer, to: str = "user@example.com") -> tuple[Agent, dict[str, Any]]:
    agent = Agent(server)
    response = agent.send(to=[to], subject="Hi", text="x")
    assert response.status_code == 201, response.text
    return agent, response.json()


def state(agent: Agent, sent: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = agent.get(f"/sent/{sent['id']}").json()
    return found


def suppressions(agent: Agent) -> list[str]:
    response = httpx.get(
        f"{agent.server.base_url}/v1/suppressions",
        headers={"Authorization": f"Bearer {agent.account_key}"},
    )
    return [s["address"] for s in response.json()["data"]]


def test_the_door_is_closed_without_a_topic(live_server: LiveServer) -> None:
    response = httpx.post(f"{live_server.base_url}/v1/webhooks/sns", content=b"{}")
    assert response.status_code == 503 and error_code(response) == "sns_webhook_disabled"


def test_a_delivery_is_applied_once(feedback: Feedback) -> None:
    agent, sent = sent_mail(feedback.server)
    assert sent["status"] == "sent"
    document = notification(ses_event("Delivery", sent, recipients=["user@example.com"]))
    first = feedback.post(document)
    assert first.status_code == 200, first.text
    assert first.json() == {"outcome": "stored"}
    assert feedback.post(document).json() == {"outcome": "duplicate"}
    now = state(agent, sent)
    assert now["status"] == "delivered"
    ses = [e for e in now["events"] if e["source"] == "ses"]
    assert [e["type"] for e in ses] == ["delivery"]
    assert ses[0]["recipients"] == ["user@example.com"]


def test_a_permanent_bounce_suppresses_and_a_transient_one_does_not(feedback: Feedback) -> None:
    agent, sent = sent_mail(feedback.server, "soft@example.com")
    assert (
        feedback.post(notification(bounce(sent, "soft@example.com", "Transient"))).status_code
        == 200
    )
    assert state(agent, sent)["status"] == "sent" and suppressions(agent) == []
    assert feedback.post(notification(bounce(sent, "soft@example.com"))).status_code == 200
    assert state(agent, sent)["status"] == "bounced"
    assert suppressions(agent) == ["soft@example.com"]
    refused = agent.send(to=["soft@example.com"], text="again")
    assert refused.status_code == 422 and error_code(refused) == "recipient_suppressed"
    # A delivery reported afterwards does not hide the bounce.
    feedback.post(notification(ses_event("Delivery", sent, recipients=["soft@example.com"])))
    assert state(agent, sent)["status"] == "bounced"


def test_a_complaint_suppresses(feedback: Feedback) -> None:
    agent, sent = sent_mail(feedback.server, "angry@example.com")
    event = ses_event(
        "Complaint",
        sent,
        complainedRecipients=[{"emailAddress": "angry@example.com"}],
        complaintFeedbackType="abuse",
    )
    assert feedback.post(notification(event, version="2")).json() == {"outcome": "stored"}
    assert state(agent, sent)["status"] == "complained"
    listed = httpx.get(
        f"{agent.server.base_url}/v1/suppressions",
        headers={"Authorization": f"Bearer {agent.account_key}"},
    ).json()["data"]
    assert [(s["address"], s["reason"], s["detail"]) for s in listed] == [
        ("angry@example.com", "complaint", "abuse")
    ]


def test_a_reject_and_a_delay(feedback: Feedback) -> None:
    agent, sent = sent_mail(feedback.server)
    delay = ses_event(
        "DeliveryDelay",
        sent,
        delayType="TransientCommunicationFailure",
        delayedRecipients=[{"emailAddress": "user@example.com"}],
    )
    assert feedback.post(notification(delay)).json() == {"outcome": "stored"}
    assert state(agent, sent)["status"] == "sent"
    assert (
        feedback.post(notification(ses_event("Reject", sent, reason="Bad content"))).status_code
        == 200
    )
    now = state(agent, sent)
    assert now["status"] == "rejected"
    assert [e["type"] for e in now["events"] if e["source"] == "ses"] == [
        "delivery_delay",
        "reject",
    ]


def _audit_rows(database_url: str, message_id: str) -> list[Any]:
    async def read() -> list[Any]:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            rows = list(
                await conn.execute(
                    sa.select(t.outbound_events).where(
                        t.outbound_events.c.feedback_id == message_id
                    )
                )
            )
        await engine.dispose()
        return rows

    return asyncio.run(read())


def test_an_event_for_an_unknown_message_is_kept_for_audit(feedback: Feedback) -> None:
    stranger = {
        "id": str(uuid.uuid4()).replace("-", ""),
        "from": "x@dispatch.test",
        "to": ["u@example.com"],
        "provider_message_id": "0100-unknown",
    }
    message_id = str(uuid.uuid4())
    response = feedback.post(notification(bounce(stranger, "u@example.com"), message_id=message_id))
    assert response.json() == {"outcome": "stored"}
    (row,) = _audit_rows(feedback.server.database_url, message_id)
    assert row.outbound_message_id is None and row.event_type == "bounce"


def test_authentic_messages_with_nothing_useful_get_a_200(feedback: Feedback) -> None:
    for message in ("not json", json.dumps({"eventType": "Open", "mail": {}}), "{}"):
        response = feedback.post(notification(message))
        assert response.status_code == 200 and response.json() == {"outcome": "ignored"}
    unsubscribe = feedback.post(sign(UNSUBSCRIBE))
    assert unsubscribe.json() == {"outcome": "unsubscribed"}
    assert feedback.subscribe_urls.visited == []  # its SubscribeURL would subscribe again


def test_a_subscription_is_confirmed_through_its_checked_url(feedback: Feedback) -> None:
    response = feedback.post(sign(SUBSCRIPTION))
    assert response.json() == {"outcome": "confirmed"}
    assert feedback.subscribe_urls.visited == [SUBSCRIBE_URL]
    elsewhere = sign(
        SUBSCRIPTION | {"SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    )
    refused = feedback.post(elsewhere)
    assert refused.status_code == 403 and error_code(refused) == "sns_message_refused"
    assert feedback.subscribe_urls.visited == [SUBSCRIBE_URL]


def _forgeries(event: str) -> list[tuple[str, dict[str, Any] | bytes]]:
    good = notification(event)
    unsigned = {k: v for k, v in good.items() if k not in ("Signature", "SignatureVersion")}
    return [
        ("unsigned", unsigned),
        ("another key", notification(event, key=OTHER_KEY)),
        ("tampered message", good | {"Message": event.replace("Permanent", "Permanent ")}),
        ("version 3", good | {"SignatureVersion": "3"}),
        (
            "certificate on s3",
            good
            | {
                "SigningCertURL": "https://s3.amazonaws.com/sns.us-west-2.amazonaws.com/SimpleNotificationService-a.pem"
            },
        ),
        (
            "bucket named sns",
            good
            | {"SigningCertURL": "https://sns.s3.amazonaws.com/SimpleNotificationService-a.pem"},
        ),
        (
            "other host",
            good
            | {"SigningCertURL": CERT_URL.replace("amazonaws.com", "amazonaws.com.evil.example")},
        ),
        ("http", good | {"SigningCertURL": CERT_URL.replace("https", "http")}),
        ("other topic", sign(good | {"TopicArn": "arn:aws:sns:us-west-2:123456789012:Other"})),
        ("other account", sign(good | {"TopicArn": "arn:aws:sns:us-west-2:999999999999:MyTopic"})),
        ("not json", b"\xff\xfe garbage"),
        ("deep", b"[" * 100_000),
        ("huge number", b'{"Type": ' + b"9" * 5000 + b"}"),
        ("array", b"[]"),
        ("empty", b""),
    ]


def test_forgeries_are_refused_and_change_nothing(feedback: Feedback) -> None:
    agent, sent = sent_mail(feedback.server, "victim@example.com")
    event = bounce(sent, "victim@example.com")
    for case, document in _forgeries(event):
        response = feedback.post(document)
        assert response.status_code == 403, (case, response.text)
        assert error_code(response) == "sns_message_refused", case
    assert state(agent, sent)["status"] == "sent"
    assert suppressions(agent) == []
    assert not [e for e in state(agent, sent)["events"] if e["source"] == "ses"]


def test_a_certificate_that_cannot_be_fetched_is_a_503_and_changes_nothing(
    feedback: Feedback,
) -> None:
    agent, sent = sent_mail(feedback.server, "later@example.com")
    document = notification(bounce(sent, "later@example.com"))
    feedback.certificates.failures = 1
    response = feedback.post(document)
    assert response.status_code == 503 and error_code(response) == "sns_certificate_unavailable"
    assert state(agent, sent)["status"] == "sent"
    assert feedback.post(document).json() == {"outcome": "stored"}  # SNS's retry
    assert state(agent, sent)["status"] == "bounced"
