"""Messages without a single header (empty, blank, bare text) are no mail a client can show:
refused as unparseable (SMTP 554, HTTP 422, see test_inbound_webhook) rather than stored."""

from __future__ import annotations

import smtplib

import pytest

from dispatch_client.extract.mime import MimeLimitExceeded
from dispatch_server.mail.parse import HeaderlessMessage, parse_message
from tests.conftest import LiveServer
from tests.helpers import signup, smtp_send

HEADERLESS = [
    b"",
    b" ",
    b"\r\n",
    b"\n\n\n",
    b" \t \r\n\r\n",
    b"\r\n\r\nbody after a blank line",
    b"garbage without headers",
    b"just some text\r\nover two lines\r\n",
    b"\x00\x00\x00",
    b"\xff\xfe\xfd",
    b"-- not a header --\r\n\r\nbody",
]


@pytest.mark.parametrize("raw", HEADERLESS)
def test_headerless_messages_are_refused(raw: bytes) -> None:
    with pytest.raises(HeaderlessMessage, match="no header"):
        parse_message(raw, max_parts=10, max_depth=5)
    assert issubclass(HeaderlessMessage, MimeLimitExceeded)  # what ingest refuses


@pytest.mark.parametrize(
    "raw", [b"Subject: only a subject", b"X: y\r\n\r\n", b"From: a@b.example\n\nbody"]
)
def test_one_header_is_enough(raw: bytes) -> None:
    parse_message(raw, max_parts=10, max_depth=5)


def test_smtp_refuses_headerless_mail_with_554(live_server: LiveServer) -> None:
    signup(live_server.base_url, local_part="smtp-empty")
    for raw in (b"", b"just text\r\n"):
        with pytest.raises(smtplib.SMTPDataError) as caught:
            smtp_send(live_server.smtp_host, live_server.smtp_port, "smtp-empty@dispatch.test", raw)
        assert caught.value.smtp_code == 554
        assert b"no header" in caught.value.smtp_error
