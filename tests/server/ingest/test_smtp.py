"""The SMTP door through a real socket."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, make_mail, signup, smtp_send


def messages(server: LiveServer, inbox_id: str, key: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{server.base_url}/v1/inboxes/{inbox_id}/messages?folder=all", headers=bearer(key)
    )
    assert response.status_code == 200
    data: list[dict[str, object]] = response.json()["data"]
    return data


def test_mail_that_got_250_is_stored_and_readable(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="smtp-ok")
    raw = make_mail("smtp-ok@dispatch.test", subject="Welcome", text="Your code is 551234")
    refused = smtp_send(live_server.smtp_host, live_server.smtp_port, "smtp-ok@dispatch.test", raw)
    assert refused == {}
    [message] = messages(live_server, account["inbox"]["id"], account["inbox_key"])
    assert message["subject"] == "Welcome"
    assert message["to"] == ["smtp-ok@dispatch.test"]
    raw_back = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/messages/{message['id']}/raw",
        headers=bearer(account["inbox_key"]),
    )
    assert raw_back.headers["content-type"] == "message/rfc822"
    assert raw_back.content == raw


def test_unknown_recipient_gets_550_at_rcpt(live_server: LiveServer) -> None:
    with smtplib.SMTP(live_server.smtp_host, live_server.smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail("a@acme.test")
        code, reply = client.rcpt("nobody@dispatch.test")
        assert code == 550
        assert b"5.1.1" in reply
        code, _ = client.rcpt("someone@elsewhere.test")
        assert code == 550


def test_mixed_recipients_deliver_to_known_ones(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="smtp-mixed")
    raw = make_mail("smtp-mixed@dispatch.test")
    refused = smtp_send(
        live_server.smtp_host,
        live_server.smtp_port,
        ["smtp-mixed@dispatch.test", "ghost@dispatch.test"],
        raw,
    )
    assert list(refused) == ["ghost@dispatch.test"]
    assert refused["ghost@dispatch.test"][0] == 550
    assert len(messages(live_server, account["inbox"]["id"], account["inbox_key"])) == 1


def test_unicode_and_8bit_mail(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="smtp-utf8")
    raw = make_mail(
        "smtp-utf8@dispatch.test", subject="Ваш код подтверждения", text="Код: 739201 — ¡gracias!"
    )
    with smtplib.SMTP(live_server.smtp_host, live_server.smtp_port, timeout=10) as client:
        client.sendmail(
            "a@acme.test",
            ["smtp-utf8@dispatch.test"],
            raw,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    [message] = messages(live_server, account["inbox"]["id"], account["inbox_key"])
    assert message["subject"] == "Ваш код подтверждения"
    assert "739201" in str(message["preview"])  # a listed message is a summary


@pytest.fixture(scope="module", params=BACKENDS)
def strict_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server with a tiny size limit, inbound quota and recipient count."""
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    url = next(urls)
    thread = _ServerThread(
        make_settings(
            url,
            DISPATCH_MAX_MESSAGE_BYTES=4096,
            DISPATCH_DAILY_INBOUND_QUOTA=2,
            DISPATCH_MAX_RECIPIENTS=3,
        )
    )
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def test_oversized_mail_gets_552_and_is_not_stored(strict_server: LiveServer) -> None:
    account = signup(strict_server.base_url, local_part="smtp-big")
    raw = make_mail("smtp-big@dispatch.test", text="x" * 10_000)
    with pytest.raises(smtplib.SMTPResponseException) as caught:
        smtp_send(strict_server.smtp_host, strict_server.smtp_port, "smtp-big@dispatch.test", raw)
    assert caught.value.smtp_code == 552
    assert messages(strict_server, account["inbox"]["id"], account["inbox_key"]) == []


def test_over_quota_gets_452(strict_server: LiveServer) -> None:
    account = signup(strict_server.base_url, local_part="smtp-quota")
    for _ in range(2):
        smtp_send(
            strict_server.smtp_host,
            strict_server.smtp_port,
            "smtp-quota@dispatch.test",
            make_mail("smtp-quota@dispatch.test"),
        )
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        smtp_send(
            strict_server.smtp_host,
            strict_server.smtp_port,
            "smtp-quota@dispatch.test",
            make_mail("smtp-quota@dispatch.test"),
        )
    assert caught.value.recipients["smtp-quota@dispatch.test"][0] == 452
    assert len(messages(strict_server, account["inbox"]["id"], account["inbox_key"])) == 2


def test_recipients_beyond_the_cap_get_452_and_the_others_get_the_mail(
    strict_server: LiveServer,
) -> None:
    account = signup(strict_server.base_url, local_part="smtp-many")
    to = [f"smtp-many+{n}@dispatch.test" for n in range(5)]
    refused = smtp_send(
        strict_server.smtp_host, strict_server.smtp_port, to, make_mail("smtp-many@dispatch.test")
    )
    assert refused == {address: (452, b"4.5.3 Too many recipients") for address in to[3:]}
    [message] = messages(strict_server, account["inbox"]["id"], account["inbox_key"])
    assert message["to"] == ["smtp-many@dispatch.test"]


def test_storage_failure_gives_451_without_internals(tmp_path: Path) -> None:
    """A failing database is a transient condition: the sender keeps the mail and retries."""
    unmigrated = f"sqlite+aiosqlite:///{tmp_path / 'no-tables.db'}"  # every query fails
    thread = _ServerThread(make_settings(unmigrated))
    server = thread.start()
    try:
        with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=30) as client:
            client.ehlo()
            client.mail("a@acme.test")
            code, reply = client.rcpt("bot@dispatch.test")
    finally:
        thread.stop()
    assert (code, reply) == (451, b"4.3.0 Temporary failure, please retry")


def test_raw_utf8_headers_over_smtputf8(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="smtp-rawutf8")
    raw = (
        "From: Zoë <zoe@acme.test>\r\nTo: smtp-rawutf8@dispatch.test\r\n"
        "Subject: Votre code de vérification\r\nMessage-ID: <utf8-raw@acme.test>\r\n\r\n"
        "Code : 402918\r\n"
    ).encode()
    with smtplib.SMTP(live_server.smtp_host, live_server.smtp_port, timeout=10) as client:
        client.sendmail(
            "zoe@acme.test",
            ["smtp-rawutf8@dispatch.test"],
            raw,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    [message] = messages(live_server, account["inbox"]["id"], account["inbox_key"])
    assert message["subject"] == "Votre code de vérification"
    assert message["from"] == "Zoë <zoe@acme.test>"
