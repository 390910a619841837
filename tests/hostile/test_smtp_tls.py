"""STARTTLS on the SMTP door, with a throwaway certificate made by the openssl CLI: real
clients (smtplib, swaks), the commands an attacker pipelines before the handshake, a
certificate renewed under a running server."""

from __future__ import annotations

import logging
import shutil
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_server.config import ConfigError
from dispatch_server.ingest.doors.smtp.tls import Certificate
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import make_mail, signup
from tests.hostile.test_smtp_limits import DoorThread, Wire, greeted, stored


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, as PEM files: (certificate, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", f"/CN={name}"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture(scope="module", params=BACKENDS)
def tls_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path, Path]]:
    """A server that offers STARTTLS and requires it; its certificate files, which tests
    may replace (a test that does puts the first one back)."""
    cert, key = make_certificate(tmp_path_factory.mktemp("tls"), "first")
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_SMTP_TLS_CERT=cert,
        DISPATCH_SMTP_TLS_KEY=key,
        DISPATCH_SMTP_REQUIRE_TLS="true",
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start(), cert, key
    finally:
        thread.stop()
        next(urls, None)


def test_smtplib_delivers_over_starttls(tls_server: tuple[LiveServer, Path, Path]) -> None:
    server, cert, _ = tls_server
    account = signup(server.base_url, local_part="tls-smtplib")
    with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=trusting(cert))
        client.ehlo()
        assert not client.has_extn("starttls")  # not offered twice
        refused = client.sendmail(
            "a@acme.test", ["tls-smtplib@dispatch.test"], make_mail("tls-smtplib@dispatch.test")
        )
    assert refused == {}
    assert len(stored(server, account)) == 1


def test_swaks_delivers_over_starttls(tls_server: tuple[LiveServer, Path, Path]) -> None:
    assert shutil.which("swaks"), "swaks is not installed: apt-get install swaks (.ci/run does)"
    server, _, _ = tls_server
    account = signup(server.base_url, local_part="tls-swaks")
    done = subprocess.run(
        [
            *("swaks", "--server", f"{server.smtp_host}:{server.smtp_port}", "--tls"),
            *("--from", "a@acme.test", "--to", "tls-swaks@dispatch.test", "--timeout", "10"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<~  250 " in done.stdout  # a reply read through TLS
    assert len(stored(server, account)) == 1


def test_a_transaction_before_starttls_gets_530(tls_server: tuple[LiveServer, Path, Path]) -> None:
    server, _, _ = tls_server
    wire = greeted(server)
    assert "STARTTLS" in wire.say("EHLO client.test")
    assert wire.say("MAIL FROM:<a@acme.test>") == "530 5.7.0 Must issue a STARTTLS command first"
    assert wire.say("RCPT TO:<b@dispatch.test>").startswith("530 5.7.0")
    assert wire.say("DATA").startswith("530 5.7.0")
    assert wire.say("NOOP") == "250 OK"  # the session goes on
    wire.close()


def test_commands_pipelined_before_the_handshake_are_discarded(
    tls_server: tuple[LiveServer, Path, Path],
) -> None:
    """CVE-2024-34083's class: what is sent in clear after STARTTLS must not run inside TLS."""
    server, cert, _ = tls_server
    wire = greeted(server)
    wire.say("EHLO client.test")
    wire.send(b"STARTTLS\r\nRSET\r\n")
    assert wire.reply().startswith("220")
    assert wire.pending == b""
    wire.sock = trusting(cert).wrap_socket(wire.sock, server_hostname="127.0.0.1")
    assert wire.say("NOOP") == "250 OK"
    assert wire.say("QUIT").startswith("221")  # and not an RSET's 250 that was waiting


def served_certificate(server: LiveServer) -> bytes:
    anything = ssl.create_default_context()
    anything.check_hostname = False
    anything.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=10) as client:
        client.starttls(context=anything)
        assert isinstance(client.sock, ssl.SSLSocket)
        der = client.sock.getpeercert(binary_form=True)
    assert der is not None
    return der


def der_of(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


def test_a_renewed_certificate_is_served_without_a_restart(
    tls_server: tuple[LiveServer, Path, Path], tmp_path: Path
) -> None:
    server, cert, key = tls_server
    first = cert.read_bytes(), key.read_bytes()
    assert served_certificate(server) == der_of(cert)
    new_cert, new_key = make_certificate(tmp_path / "renewed", "renewed")
    try:
        # A half-done renewal (a key that does not load) keeps the certificate in service...
        broken = tmp_path / "broken.pem"
        broken.write_text("not a key")
        broken.replace(key)
        assert served_certificate(server) == der_of(cert)
        # ...and the complete one is served from the next connection on.
        new_key.replace(key)
        new_cert.replace(cert)
        assert served_certificate(server) == der_of(cert)
        assert der_of(cert) != ssl.PEM_cert_to_DER_cert(first[0].decode())
    finally:
        cert.write_bytes(first[0])
        key.write_bytes(first[1])
    assert served_certificate(server) == der_of(cert)


def test_without_a_certificate_starttls_is_not_offered(live_server: LiveServer) -> None:
    with smtplib.SMTP(live_server.smtp_host, live_server.smtp_port, timeout=10) as client:
        client.ehlo()
        assert not client.has_extn("starttls")


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DISPATCH_SMTP_TLS_CERT": __file__}, "DISPATCH_SMTP_TLS_KEY"),
        ({"DISPATCH_SMTP_TLS_KEY": __file__}, "DISPATCH_SMTP_TLS_CERT"),
        (
            {"DISPATCH_SMTP_TLS_CERT": "/no/cert.pem", "DISPATCH_SMTP_TLS_KEY": __file__},
            "DISPATCH_SMTP_TLS_CERT must be a file this process can read",
        ),
        ({"DISPATCH_SMTP_REQUIRE_TLS": "true"}, "DISPATCH_SMTP_REQUIRE_TLS"),
        (
            {"DISPATCH_SMTP_MAX_BUFFERED_BYTES": 2048, "DISPATCH_MAX_MESSAGE_BYTES": 4096},
            "DISPATCH_SMTP_MAX_BUFFERED_BYTES",
        ),
    ],
)
def test_settings_that_do_not_go_together_stop_startup(
    variables: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        make_settings("sqlite:///x.db", **variables)


def test_a_certificate_that_does_not_load_stops_startup(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, "good")
    key.write_text("not a key")
    with pytest.raises(ConfigError, match="DISPATCH_SMTP_TLS_CERT"):
        Certificate(cert, key)
    with pytest.raises(ConfigError, match="DISPATCH_SMTP_TLS_CERT"):
        Certificate(tmp_path / "missing.pem", key)


def test_failed_handshakes_log_no_traceback_and_free_their_connection(
    tls_server: tuple[LiveServer, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    server, _, _ = tls_server
    door = DoorThread(server.settings).start()
    try:
        for _ in range(3):
            wire = Wire("127.0.0.1", door.port)
            assert wire.reply().startswith("220")
            assert wire.say("STARTTLS").startswith("220")
            wire.send(b"this is no ClientHello\r\n" * 10)
            assert wire.is_closed()
            wire.close()
        deadline = time.monotonic() + 5
        while door.door.state.connections.open and time.monotonic() < deadline:
            time.sleep(0.02)
        assert door.door.state.connections.open == 0
    finally:
        door.stop()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
