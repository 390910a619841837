"""The ses transport against a moto server: what it hands to SES, and how each failure reads."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest

from dispatch_server.config.settings import Outbound
from dispatch_server.outbound.transports import DeliveryFailed, OutgoingMail
from dispatch_server.outbound.transports.ses import SesTransport
from tests.server.outbound.conftest import free_port

pytestmark = pytest.mark.anyio

REGION = "us-east-1"
SENDER = "agent@dispatch.test"
RAW = (
    b"From: agent@dispatch.test\r\n"
    b"To: Ann <ann@example.com>\r\n"
    b"Cc: bob@example.org\r\n"
    b"Subject: Your code\r\n"
    b"Message-ID: <m1@dispatch.test>\r\n"
    b"\r\n"
    b"123456\r\n"
)


def outgoing(
    *,
    sender: str = SENDER,
    recipients: tuple[str, ...] = ("ann@example.com", "bob@example.org", "carol@example.net"),
    raw: bytes = RAW,
) -> OutgoingMail:
    return OutgoingMail(
        outbound_id="0b6f3e0e-6a43-4c39-9d8e-2f1f4b7c9a10",
        sender=sender,
        recipients=recipients,
        raw=raw,
        message_id="m1@dispatch.test",
    )


def verify_domain(moto: str, domain: str = "dispatch.test") -> None:
    client = boto3.session.Session().client("sesv2", region_name=REGION, endpoint_url=moto)
    client.create_email_identity(EmailIdentity=domain)
    client.close()


def sent_messages(moto: str) -> list[dict[str, Any]]:
    """The raw messages moto's SES recorded."""
    with urllib.request.urlopen(f"{moto}/moto-api/data.json", timeout=10) as response:
        data = json.load(response)
    messages: list[dict[str, Any]] = data["ses"]["RawMessage"]
    return messages


async def refusal(transport: SesTransport, mail: OutgoingMail) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        await transport.deliver(mail)
    return caught.value


@pytest.fixture
async def transport(moto: str) -> AsyncIterator[SesTransport]:
    ses = SesTransport.from_settings(
        Outbound(provider="ses", ses_region=REGION, ses_endpoint_url=moto)
    )
    yield ses
    await ses.close()


async def test_a_send_hands_the_raw_message_to_every_recipient_bcc_too(
    moto: str, transport: SesTransport
) -> None:
    verify_domain(moto)
    accepted = await transport.deliver(outgoing())
    assert accepted.provider_message_id
    assert accepted.refused == ()
    assert not accepted.delivered
    [message] = sent_messages(moto)
    assert message["id"] == accepted.provider_message_id
    assert message["source"] == SENDER
    assert message["raw_data"].encode() == RAW
    # moto adds the addresses of the To and Cc headers to the destinations it was given
    assert {"ann@example.com", "bob@example.org", "carol@example.net"} <= set(
        message["destinations"]
    )
    assert b"carol" not in RAW  # the bcc recipient is in the destination alone


async def test_a_configuration_set_goes_with_the_send(moto: str) -> None:
    verify_domain(moto)
    client = boto3.session.Session().client("sesv2", region_name=REGION, endpoint_url=moto)
    client.create_configuration_set(ConfigurationSetName="dispatch-events")
    client.close()
    transport = SesTransport.from_settings(
        Outbound(
            provider="ses",
            ses_region=REGION,
            ses_endpoint_url=moto,
            ses_configuration_set="dispatch-events",
        )
    )
    try:
        accepted = await transport.deliver(outgoing())
    finally:
        await transport.close()
    assert transport.configuration_set == "dispatch-events"
    assert [message["id"] for message in sent_messages(moto)] == [accepted.provider_message_id]


async def test_an_unverified_sender_is_rejected_for_good(
    moto: str, transport: SesTransport
) -> None:
    failure = await refusal(transport, outgoing())
    assert failure.permanent
    assert failure.reason.startswith("SES MessageRejected (HTTP 400): ")
    assert SENDER in failure.reason
    assert sent_messages(moto) == []


async def test_a_malformed_recipient_is_rejected_for_good(
    moto: str, transport: SesTransport
) -> None:
    verify_domain(moto)
    failure = await refusal(transport, outgoing(recipients=("ann@example.com", "no-domain")))
    assert failure.permanent
    assert failure.reason.startswith("SES InvalidParameterValue (HTTP 400): ")
    assert sent_messages(moto) == []


async def test_more_than_fifty_recipients_are_rejected_for_good(
    moto: str, transport: SesTransport
) -> None:
    verify_domain(moto)
    recipients = tuple(f"r{n}@example.com" for n in range(51))
    failure = await refusal(transport, outgoing(recipients=recipients))
    assert failure.permanent
    assert "MessageRejected" in failure.reason
    assert "Too many recipients" in failure.reason


async def test_a_server_error_is_transient(moto: str, transport: SesTransport) -> None:
    verify_domain(moto)
    # moto decodes raw data as UTF-8 and answers 500 to anything else
    failure = await refusal(transport, outgoing(raw=RAW + b"\xff\xfe\r\n"))
    assert not failure.permanent
    assert failure.reason.startswith("SES 500 (HTTP 500): ")


async def test_no_credentials_is_transient(
    moto: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    transport = SesTransport(region=REGION, endpoint_url=moto)
    try:
        failure = await refusal(transport, outgoing())
    finally:
        await transport.close()
    assert not failure.permanent
    assert failure.reason == "SES call failed: Unable to locate credentials"


async def test_an_endpoint_not_listening_is_transient_and_quick(aws_credentials: None) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # closed again: connections are refused
    transport = SesTransport(
        region=REGION, endpoint_url=endpoint, connect_timeout=1, read_timeout=1
    )
    started = time.monotonic()
    try:
        failure = await refusal(transport, outgoing())
    finally:
        await transport.close()
    assert time.monotonic() - started < 5
    assert not failure.permanent
    assert failure.reason.startswith("SES call failed: Could not connect to the endpoint URL")


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_an_endpoint_that_never_answers_is_transient(
    aws_credentials: None, silent_endpoint: str
) -> None:
    transport = SesTransport(
        region=REGION, endpoint_url=silent_endpoint, connect_timeout=1, read_timeout=0.5
    )
    started = time.monotonic()
    try:
        failure = await refusal(transport, outgoing())
    finally:
        await transport.close()
    assert time.monotonic() - started < 5
    assert not failure.permanent
    assert failure.reason.startswith("SES call failed: Read timeout on endpoint URL")


def test_the_transport_needs_a_region() -> None:
    with pytest.raises(ValueError, match="DISPATCH_SES_REGION"):
        SesTransport.from_settings(Outbound(provider="ses"))
