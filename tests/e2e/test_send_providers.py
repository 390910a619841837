"""Sending from the SDK through each external provider, end to end on both databases: a
server configured with `DISPATCH_OUTBOUND_PROVIDER=smtp` relays to a real SMTP server
process, and with `ses` sends through SES v2 to moto running in server mode; SES's feedback
for that send then comes back through the SNS door."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from dispatch_client import Dispatch, RecipientSuppressedError
from dispatch_server.outbound.feedback.sns import SnsVerifier
from dispatch_server.services import SnsChecks
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import signup
from tests.server.outbound.test_ses_transport import verify_domain
from tests.server.outbound.test_smtp_transport import Relay, start_relay
from tests.server.outbound.test_sns import NOTIFICATION, TOPIC, CertificateServer, sign

# A fixture, used by name; moto's (moto_server, moto, aws_credentials) are tests/conftest.py's.
__all__ = ["start_relay"]

REGION = "us-east-1"


@pytest.fixture(params=BACKENDS)
def serve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., tuple[LiveServer, _ServerThread]]]:
    """Starts a server with the given settings on a fresh database of each backend."""
    threads: list[_ServerThread] = []
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    url = next(urls)

    def start(**variables: object) -> tuple[LiveServer, _ServerThread]:
        thread = _ServerThread(make_settings(url, **variables))
        threads.append(thread)
        return thread.start(), thread

    yield start
    for thread in threads:
        thread.stop()
    next(urls, None)


def _parse(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_the_smtp_provider_relays_through_a_real_smtp_server(
    serve: Callable[..., tuple[LiveServer, _ServerThread]],
    start_relay: Callable[..., Relay],
) -> None:
    relay = start_relay(rcpt_replies={"gone@example.org": "550 5.1.1 no such user"})
    server, _ = serve(
        DISPATCH_OUTBOUND_PROVIDER="smtp",
        DISPATCH_SMTP_RELAY_HOST="127.0.0.1",
        DISPATCH_SMTP_RELAY_PORT=relay.port,
        DISPATCH_SMTP_RELAY_SECURITY="none",
    )
    account = signup(server.base_url)
    with Dispatch(api_key=account["inbox_key"], base_url=server.base_url) as d:
        inbox_id = account["inbox"]["id"]
        sent = d.messages.send(
            inbox_id,
            to="friend@example.org",
            bcc="hidden@example.net",
            subject="Über",
            text="Hello from the relay",
        )
        assert sent.status == "sent" and sent.provider == "smtp"
        assert [e.type for e in sent.events] == ["queued", "sent"]
        (message,) = relay.messages()
        assert message["sender"] == account["inbox"]["address"]
        assert sorted(message["recipients"]) == ["friend@example.org", "hidden@example.net"]
        parsed = _parse(message["content"])
        assert parsed["Subject"] == "Über" and parsed["Bcc"] is None
        assert parsed["Message-ID"] == sent.message_id
        # One recipient refused: the rest is sent, the refused one bounced.
        partly = d.messages.send(inbox_id, to=["ok@example.org", "gone@example.org"], text="x")
        assert partly.status == "sent"
        bounced = [e for e in partly.events if e.type == "bounced"]
        assert [e.recipients for e in bounced] == [("gone@example.org",)]
        assert len(relay.messages()) == 2


def test_the_ses_provider_sends_through_ses_and_its_feedback_comes_back(
    serve: Callable[..., tuple[LiveServer, _ServerThread]], moto: str
) -> None:
    server, thread = serve(
        DISPATCH_OUTBOUND_PROVIDER="ses",
        DISPATCH_SES_REGION=REGION,
        DISPATCH_SES_ENDPOINT_URL=moto,
        DISPATCH_SNS_TOPIC_ARNS=TOPIC,
    )
    certificates = CertificateServer()
    thread.app.state.services.sns = SnsChecks(SnsVerifier((TOPIC,), fetch_certificate=certificates))
    account = signup(server.base_url)
    verify_domain(moto)  # SES sends only from a verified identity
    with Dispatch(api_key=account["inbox_key"], base_url=server.base_url) as d:
        inbox_id = account["inbox"]["id"]
        sent = d.messages.send(inbox_id, to="reader@example.org", subject="Hi", text="via SES")
        assert sent.status == "sent" and sent.provider == "ses"
        assert sent.provider_message_id
        recorded = httpx.get(f"{moto}/moto-api/data.json").json()["ses"]["RawMessage"]
        assert any(sent.message_id in str(m) for m in recorded)
        # SES reports a permanent bounce for it; the recipient is suppressed.
        event = {
            "eventType": "Bounce",
            "mail": {
                "timestamp": "2026-12-01T10:00:00.000Z",
                "messageId": sent.provider_message_id,
                "destination": ["reader@example.org"],
                "tags": {"dispatch_outbound_id": [sent.id]},
            },
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "timestamp": "2026-12-01T10:00:01.000Z",
                "bouncedRecipients": [{"emailAddress": "reader@example.org"}],
            },
        }
        document = {k: v for k, v in NOTIFICATION.items() if k != "Subject"} | {
            "Message": json.dumps(event),
            "MessageId": str(uuid.uuid4()),
        }
        answer = httpx.post(
            f"{server.base_url}/v1/webhooks/sns", content=json.dumps(sign(document))
        )
        assert answer.json() == {"outcome": "stored"}
        assert d.sent.get(inbox_id, sent.id).status == "bounced"
        with pytest.raises(RecipientSuppressedError):
            d.messages.send(inbox_id, to="reader@example.org", text="again")
