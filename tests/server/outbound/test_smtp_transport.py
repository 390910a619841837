"""The `smtp` transport against a real SMTP relay: aiosmtpd in its own process
(relay_server.py), over TCP, with certificates made for each session by `cryptography`."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dispatch_server.config import ConfigError
from dispatch_server.mail.compose import compose
from dispatch_server.outbound.transports import (
    Accepted,
    DeliveryFailed,
    OutgoingMail,
    Transport,
)
from dispatch_server.outbound.transports.smtp import SmtpTransport
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

RELAY_SCRIPT = Path(__file__).with_name("relay_server.py")
START_TIMEOUT = 15.0
SENDER = "bot@dispatch.test"
USERNAME = "relay-user"
PASSWORD = "s3cret-Pa55word"


# Certificates --------------------------------------------------------------------------------


@attrs.frozen
class Pki:
    ca: Path  # the CA the transport is told to trust
    cert: Path  # for 127.0.0.1, signed by `ca`
    key: Path
    wrong_name_cert: Path  # for relay.elsewhere.test only, signed by `ca`
    wrong_name_key: Path
    other_ca: Path  # a CA that signed neither


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    names: list[x509.GeneralName] | None,
) -> x509.Certificate:
    """A CA certificate when `names` is None, else a server certificate for `names`."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer if issuer is not None else (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
    )
    if names is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        usage = {"key_cert_sign": True, "crl_sign": True, "digital_signature": False}
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
        )
        usage = {"key_cert_sign": False, "crl_sign": False, "digital_signature": True}
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
            **usage,
        ),
        True,
    )
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("Test relay CA", ca_key, None, None)
    _write(directory / "ca", ca_key, ca_cert)
    servers: dict[str, list[x509.GeneralName]] = {
        "relay": [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        "wrong-name": [x509.DNSName("relay.elsewhere.test")],
    }
    for stem, names in servers.items():
        key = ec.generate_private_key(ec.SECP256R1())
        _write(directory / stem, key, _certificate(stem, key, (ca_cert.subject, ca_key), names))
    other_key = ec.generate_private_key(ec.SECP256R1())
    _write(directory / "other-ca", other_key, _certificate("Other CA", other_key, None, None))
    return Pki(
        ca=directory / "ca.pem",
        cert=directory / "relay.pem",
        key=directory / "relay.key",
        wrong_name_cert=directory / "wrong-name.pem",
        wrong_name_key=directory / "wrong-name.key",
        other_ca=directory / "other-ca.pem",
    )


# The relay process ---------------------------------------------------------------------------


class Relay:
    """One relay_server.py process and what it recorded."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.records_path = directory / "records.jsonl"
        self.log_path = directory / "relay.log"
        config_path = directory / "config.json"
        config_path.write_text(json.dumps({"records": str(self.records_path), **config}))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(RELAY_SCRIPT), str(config_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        line = self.process.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError(f"the relay did not start: {self.log_path.read_text()}")
        return int(line.split()[1])

    def records(self, *events: str) -> list[dict[str, Any]]:
        """What the relay got, in order; only `events` (MAIL, DATA...) when given."""
        if not self.records_path.exists():
            return []
        lines = self.records_path.read_text().splitlines()
        found = [json.loads(line) for line in lines]
        return [r for r in found if not events or r["event"] in events]

    def commands(self) -> list[str]:
        return [record["event"] for record in self.records()]

    def messages(self) -> list[dict[str, Any]]:
        """Each message the relay received: envelope, options, the bytes."""
        return [
            {**record, "content": base64.b64decode(record["content"])}
            for record in self.records("DATA")
        ]

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def start_relay(tmp_path: Path) -> Iterator[Callable[..., Relay]]:
    """Starts relays configured as relay_server.py describes; stops them after the test."""
    relays: list[Relay] = []

    def start(**config: Any) -> Relay:
        directory = tmp_path / f"relay-{len(relays)}"
        directory.mkdir()
        relay = Relay(directory, config)
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.stop()


@pytest.fixture
async def client() -> AsyncIterator[Callable[..., SmtpTransport]]:
    """Makes transports for a relay on 127.0.0.1; closes them after the test."""
    made: list[SmtpTransport] = []

    def make(port: int, security: str = "none", **params: Any) -> SmtpTransport:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": port,
            "security": security,
            "username": None,
            "password": None,
            "ca_file": None,
            "timeout": 5.0,
            "ehlo_name": "dispatch.test",
            **params,
        }
        transport = SmtpTransport(**settings)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.close()


def outgoing(*recipients: str, text: str = "Your code is 551234") -> OutgoingMail:
    """A message as the outbox hands it over, composed by the real composer."""
    to = list(recipients or ("someone@acme.test",))
    raw = compose(
        sender=SENDER,
        to=to,
        subject="Hello",
        text=text,
        html=None,
        headers={},
        message_id_domain="dispatch.test",
        max_recipients=50,
    )
    return OutgoingMail(
        outbound_id="out-1",
        sender=SENDER,
        recipients=tuple(to),
        raw=raw,
        message_id="abc@dispatch.test",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def failure(transport: SmtpTransport, mail: OutgoingMail) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        await transport.deliver(mail)
    return caught.value


# Each security mode delivers exactly what it was given ---------------------------------------

TEXT = "Код: 739201 — ¡gracias!\n.\n.hidden line\n..two dots\nend\n"


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
async def test_each_security_mode_delivers_the_exact_bytes_and_envelope(
    security: str,
    pki: Pki,
    start_relay: Callable[..., Relay],
    client: Callable[..., SmtpTransport],
) -> None:
    relay = start_relay(security=security, cert=str(pki.cert), key=str(pki.key))
    transport = client(relay.port, security, ca_file=str(pki.ca))
    mail = outgoing("one@acme.test", "two@example.test", text=TEXT)
    assert b"\r\n.\r\n" in mail.raw and b"\r\n.hidden" in mail.raw  # lines that need stuffing
    assert not mail.raw.isascii()

    accepted = await transport.deliver(mail)

    assert accepted == Accepted(provider_message_id=None)
    [message] = relay.messages()
    assert message["content"] == mail.raw
    assert message["sender"] == SENDER
    assert message["recipients"] == ["one@acme.test", "two@example.test"]
    assert message["tls"] is (security != "none")
    assert sorted(message["options"]) == ["BODY=8BITMIME", f"SIZE={len(mail.raw)}"]
    [ehlo, *_] = relay.records("EHLO")
    assert ehlo["hostname"] == "dispatch.test"
    if security == "starttls":  # nothing of the transaction before the handshake
        assert all(record["tls"] for record in relay.records() if record["event"] != "EHLO")
        assert [record["tls"] for record in relay.records("EHLO")] == [False, True]


async def test_settings_build_a_transport_that_delivers(
    pki: Pki, start_relay: Callable[..., Relay]
) -> None:
    relay = start_relay(
        security="starttls",
        cert=str(pki.cert),
        key=str(pki.key),
        auth={"username": USERNAME, "password": PASSWORD},
    )
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        DISPATCH_OUTBOUND_PROVIDER="smtp",
        DISPATCH_SMTP_RELAY_HOST="127.0.0.1",
        DISPATCH_SMTP_RELAY_PORT=relay.port,
        DISPATCH_SMTP_RELAY_USERNAME=USERNAME,
        DISPATCH_SMTP_RELAY_PASSWORD=PASSWORD,
        DISPATCH_SMTP_RELAY_CA_FILE=pki.ca,
        DISPATCH_SMTP_RELAY_TIMEOUT_SECONDS=5,
    )
    transport: Transport = SmtpTransport.from_settings(settings.outbound, ehlo_name="dispatch.test")
    try:
        assert transport.name == "smtp"
        await transport.deliver(outgoing())
    finally:
        await transport.close()
    [message] = relay.messages()
    assert message["tls"] is True
    assert message["login"] == USERNAME


def test_a_ca_file_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate\n")
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        DISPATCH_OUTBOUND_PROVIDER="smtp",
        DISPATCH_SMTP_RELAY_HOST="relay.test",
        DISPATCH_SMTP_RELAY_CA_FILE=bad,
    )
    with pytest.raises(ConfigError, match="DISPATCH_SMTP_RELAY_CA_FILE"):
        SmtpTransport.from_settings(settings.outbound)


# STARTTLS is never skipped, certificates are verified ----------------------------------------


async def test_starttls_not_offered_sends_nothing_in_plain_text(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    # A relay that would take AUTH and mail in plain text.
    relay = start_relay(auth={"username": USERNAME, "password": PASSWORD}, auth_require_tls=False)
    transport = client(relay.port, "starttls", username=USERNAME, password=PASSWORD)

    failed = await failure(transport, outgoing())

    assert failed.permanent is False
    assert "does not offer STARTTLS" in failed.reason
    assert relay.commands() == ["EHLO"]  # no AUTH, no MAIL, nothing after the EHLO


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize("mismatch", ["host name", "unknown CA", "system CAs"])
async def test_a_certificate_that_does_not_verify_is_refused(
    security: str,
    mismatch: str,
    pki: Pki,
    start_relay: Callable[..., Relay],
    client: Callable[..., SmtpTransport],
) -> None:
    cert, key, ca_file = {
        "host name": (pki.wrong_name_cert, pki.wrong_name_key, str(pki.ca)),
        "unknown CA": (pki.cert, pki.key, str(pki.other_ca)),
        "system CAs": (pki.cert, pki.key, None),
    }[mismatch]
    relay = start_relay(
        security=security,
        cert=str(cert),
        key=str(key),
        auth={"username": USERNAME, "password": PASSWORD},
        auth_require_tls=False,
    )
    transport = client(relay.port, security, ca_file=ca_file, username=USERNAME, password=PASSWORD)

    failed = await failure(transport, outgoing())

    assert failed.permanent is False
    assert "CERTIFICATE_VERIFY_FAILED" in failed.reason
    assert PASSWORD not in failed.reason
    assert relay.records("AUTH", "MAIL", "RCPT", "DATA") == []


# AUTH ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_logs_in_after_tls(
    mechanism: str,
    pki: Pki,
    start_relay: Callable[..., Relay],
    client: Callable[..., SmtpTransport],
) -> None:
    relay = start_relay(
        security="starttls",
        cert=str(pki.cert),
        key=str(pki.key),
        auth={"username": USERNAME, "password": PASSWORD},
        mechanisms=[mechanism],
    )
    transport = client(
        relay.port, "starttls", ca_file=str(pki.ca), username=USERNAME, password=PASSWORD
    )

    await transport.deliver(outgoing())

    [auth] = relay.records("AUTH")
    assert auth == {**auth, "mechanism": mechanism, "username": USERNAME, "ok": True, "tls": True}
    [message] = relay.messages()
    assert message["login"] == USERNAME


async def test_a_wrong_password_is_transient_and_not_in_the_reason(
    pki: Pki, start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(
        security="tls",
        cert=str(pki.cert),
        key=str(pki.key),
        auth={"username": USERNAME, "password": PASSWORD},
    )
    wrong = "not-the-Pa55word"
    transport = client(relay.port, "tls", ca_file=str(pki.ca), username=USERNAME, password=wrong)

    failed = await failure(transport, outgoing())

    assert failed.permanent is False  # configuration: the mail waits for it to be fixed
    assert "at AUTH: 535" in failed.reason
    assert wrong not in failed.reason and PASSWORD not in failed.reason
    # smtplib tries each mechanism the relay offers; none got in.
    assert [(auth["mechanism"], auth["ok"]) for auth in relay.records("AUTH")] == [
        ("PLAIN", False),
        ("LOGIN", False),
    ]
    assert relay.records("MAIL", "RCPT", "DATA") == []


async def test_a_relay_without_auth_gets_no_mail_when_a_login_is_configured(
    pki: Pki, start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(security="starttls", cert=str(pki.cert), key=str(pki.key))
    transport = client(
        relay.port, "starttls", ca_file=str(pki.ca), username=USERNAME, password=PASSWORD
    )

    failed = await failure(transport, outgoing())

    assert failed.permanent is False
    assert "AUTH" in failed.reason
    assert relay.records("MAIL", "RCPT", "DATA") == []


async def test_a_relay_that_requires_a_login_we_do_not_have_is_transient(
    pki: Pki, start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(
        security="starttls",
        cert=str(pki.cert),
        key=str(pki.key),
        auth={"username": USERNAME, "password": PASSWORD},
    )
    transport = client(relay.port, "starttls", ca_file=str(pki.ca))

    failed = await failure(transport, outgoing())

    assert failed.permanent is False  # 530: configuration, though it is a 5xx to MAIL FROM
    assert "answered MAIL FROM with 530" in failed.reason
    assert relay.records("DATA") == []


# Replies -------------------------------------------------------------------------------------


async def test_one_recipient_refused_with_550_is_returned_and_the_rest_delivered(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(rcpt_replies={"ghost@acme.test": "550 5.1.1 No such user"})
    transport = client(relay.port)

    accepted = await transport.deliver(
        outgoing("one@acme.test", "ghost@acme.test", "two@acme.test")
    )

    assert accepted.refused == ("ghost@acme.test",)
    [message] = relay.messages()
    assert message["recipients"] == ["one@acme.test", "two@acme.test"]


async def test_every_recipient_refused_with_5xx_is_permanent(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(
        rcpt_replies={
            "ghost@acme.test": "550 5.1.1 No such user",
            "closed@acme.test": "553 5.7.1 Relaying denied",
        }
    )
    transport = client(relay.port)

    failed = await failure(transport, outgoing("ghost@acme.test", "closed@acme.test"))

    assert failed.permanent is True
    assert "<ghost@acme.test> 550 5.1.1 No such user" in failed.reason
    assert "<closed@acme.test> 553 5.7.1 Relaying denied" in failed.reason
    assert relay.records("DATA") == []


@pytest.mark.parametrize(
    "recipients",
    [
        ("busy@acme.test",),  # every recipient: 450
        ("busy@acme.test", "one@acme.test"),  # one 450, one accepted
        ("ghost@acme.test", "busy@acme.test"),  # one 550, one 450
    ],
)
async def test_a_recipient_deferred_with_4xx_is_transient_and_nothing_is_sent(
    recipients: tuple[str, ...],
    start_relay: Callable[..., Relay],
    client: Callable[..., SmtpTransport],
) -> None:
    relay = start_relay(
        rcpt_replies={
            "busy@acme.test": "450 4.2.1 Mailbox busy, try later",
            "ghost@acme.test": "550 5.1.1 No such user",
        }
    )
    transport = client(relay.port)

    failed = await failure(transport, outgoing(*recipients))

    assert failed.permanent is False
    assert "<busy@acme.test> 450 4.2.1 Mailbox busy, try later" in failed.reason
    assert relay.records("DATA") == []  # the retry reaches each recipient once


@pytest.mark.parametrize(
    ("stage", "reply", "permanent"),
    [
        ("mail_reply", "553 5.7.1 Sender address rejected: not owned by user", True),
        ("mail_reply", "451 4.3.0 Temporary lookup failure", False),
        ("mail_reply", "421 4.3.2 Service shutting down", False),
        ("data_command_reply", "554 5.5.1 No valid recipients", True),
        ("data_command_reply", "451 4.3.0 Queue full", False),
        ("data_reply", "554 5.7.1 Message rejected as spam", True),
        ("data_reply", "451 4.3.0 Temporary failure, try later", False),
        ("data_reply", "552 5.3.4 Message too big", True),
    ],
)
async def test_replies_to_mail_and_data(
    stage: str,
    reply: str,
    permanent: bool,
    start_relay: Callable[..., Relay],
    client: Callable[..., SmtpTransport],
) -> None:
    relay = start_relay(**{stage: reply})
    transport = client(relay.port)

    failed = await failure(transport, outgoing())

    assert failed.permanent is permanent
    assert reply in failed.reason
    step = {"mail_reply": "MAIL FROM", "data_command_reply": "DATA"}.get(stage, "the end of DATA")
    assert f"answered {step} with" in failed.reason


@pytest.mark.parametrize(
    ("reply", "queue_id"),
    [
        ("250 2.0.0 Ok: queued as 4ABC123", "4ABC123"),
        ("250 OK id=1rXyZa-000Abc-9Q", "1rXyZa-000Abc-9Q"),
        ("250 2.0.0 Ok: queued as 4Xyz1T2qz3z1xyz.", "4Xyz1T2qz3z1xyz"),
        ("250 OK", None),
        ("250 2.0.0 Message accepted for delivery", None),
    ],
)
async def test_the_queue_id_is_read_from_the_final_reply(
    reply: str,
    queue_id: str | None,
    start_relay: Callable[..., Relay],
    client: Callable[..., SmtpTransport],
) -> None:
    relay = start_relay(data_reply=reply)
    transport = client(relay.port)

    accepted = await transport.deliver(outgoing())

    assert accepted.provider_message_id == queue_id
    assert len(relay.messages()) == 1


# The relay unreachable or gone ---------------------------------------------------------------


async def test_a_closed_port_is_transient(client: Callable[..., SmtpTransport]) -> None:
    transport = client(free_port())

    failed = await failure(transport, outgoing())

    assert failed.permanent is False
    assert "failed to connect" in failed.reason
    assert "refused" in failed.reason.lower()


@pytest.mark.parametrize("security", ["none", "tls"])
async def test_a_relay_that_never_greets_times_out_as_transient(
    security: str, start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(silent=True)
    transport = client(relay.port, security, timeout=1.0)

    started = time.monotonic()
    failed = await failure(transport, outgoing())

    assert failed.permanent is False
    assert "timed out" in failed.reason
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
async def test_a_connection_dropped_mid_transaction_is_transient(
    command: str, start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(drop_at=command)
    transport = client(relay.port)

    failed = await failure(transport, outgoing())

    assert failed.permanent is False
    assert "Connection unexpectedly closed" in failed.reason
    assert relay.records(command) != []  # it did get that far


# Connections kept between deliveries ---------------------------------------------------------


async def test_deliveries_reuse_one_connection_checked_with_rset(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay()
    transport = client(relay.port)

    for _ in range(3):
        await transport.deliver(outgoing())
    await transport.close()

    assert len({record["peer"] for record in relay.records()}) == 1
    assert relay.commands() == [
        *("EHLO", "MAIL", "RCPT", "DATA"),
        *("RSET", "MAIL", "RCPT", "DATA") * 2,
        "QUIT",  # at close()
    ]


async def test_a_delivery_after_close_quits_its_connection(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay()
    transport = client(relay.port)
    await transport.close()

    await transport.deliver(outgoing())

    assert relay.commands() == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]


async def test_a_relay_that_closed_the_connection_gets_a_new_one(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(close_after_message=True)
    transport = client(relay.port)

    await transport.deliver(outgoing())
    await asyncio.sleep(0.3)  # the relay closes it 50 ms after the 250
    await transport.deliver(outgoing())

    assert len(relay.messages()) == 2
    assert len({message["peer"] for message in relay.messages()}) == 2


async def test_a_failed_delivery_does_not_leave_its_connection_for_the_next(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay(rcpt_replies={"ghost@acme.test": "550 5.1.1 No such user"})
    transport = client(relay.port)

    await failure(transport, outgoing("ghost@acme.test"))
    await transport.deliver(outgoing("one@acme.test"))

    peers = [record["peer"] for record in relay.records("EHLO")]
    assert len(set(peers)) == 2
    [message] = relay.messages()
    assert message["recipients"] == ["one@acme.test"]


async def test_concurrent_deliveries_each_arrive_once(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay()
    transport = client(relay.port)
    mails = [outgoing(f"user{n}@acme.test") for n in range(12)]

    results = await asyncio.gather(*(transport.deliver(mail) for mail in mails))

    assert all(result == Accepted(provider_message_id=None) for result in results)
    received = sorted(tuple(message["recipients"]) for message in relay.messages())
    assert received == sorted((mail.recipients) for mail in mails)


# Hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "recipient"),
    [
        ("bot@dispatch.test\r\nRCPT TO:<victim@evil.test>", "one@acme.test"),
        (SENDER, "one@acme.test>\r\nRSET"),
        (SENDER, "one@acme.test\nDATA"),
        (SENDER, "one@acme.test\rQUIT"),
        (SENDER, "one\x00@acme.test"),
        (SENDER, "élodie@acme.test"),
        (SENDER, "one@acme.test> NOTIFY=NEVER"),
        (SENDER, "one @acme.test"),
        ("", "one@acme.test"),
    ],
)
async def test_an_envelope_address_that_could_add_a_command_is_refused_before_connecting(
    sender: str,
    recipient: str,
    start_relay: Callable[..., Relay],
    client: Callable[..., SmtpTransport],
) -> None:
    relay = start_relay()
    transport = client(relay.port)
    mail = attrs.evolve(outgoing(), sender=sender, recipients=("fine@acme.test", recipient))

    failed = await failure(transport, mail)

    assert failed.permanent is True
    assert "nothing was sent" in failed.reason
    assert "\r" not in failed.reason and "\n" not in failed.reason
    assert relay.records() == []  # not even connected


async def test_bare_line_ends_are_sent_as_crlf_so_nothing_is_smuggled(
    start_relay: Callable[..., Relay], client: Callable[..., SmtpTransport]
) -> None:
    relay = start_relay()
    transport = client(relay.port)
    smuggled = (
        b"\n.\r\nMAIL FROM:<ceo@victim.test>\r\nRCPT TO:<x@acme.test>\r\nDATA\r\n"
        b"Subject: forged\r\n\r\nforged\r\n.\r\n"
    )
    head = b"From: bot@dispatch.test\r\nSubject: hi\r\n\r\nbody"
    mail = attrs.evolve(outgoing(), raw=head + smuggled + b"tail\r\r\nno final line end")

    await transport.deliver(mail)

    [message] = relay.messages()
    assert relay.records("MAIL")[0]["address"] == SENDER
    assert len(relay.records("MAIL")) == 1
    assert message["content"] == (
        b"From: bot@dispatch.test\r\nSubject: hi\r\n\r\nbody\r\n.\r\n"
        b"MAIL FROM:<ceo@victim.test>\r\nRCPT TO:<x@acme.test>\r\nDATA\r\n"
        b"Subject: forged\r\n\r\nforged\r\n.\r\ntail\r\n\r\nno final line end\r\n"
    )
