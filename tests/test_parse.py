"""MIME parsing into stored fields: headers, bodies, attachments."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from dispatch_server.ingest.parse import ParsedMessage, parse_message


def parse(raw: bytes) -> ParsedMessage:
    return parse_message(raw, max_parts=50, max_depth=10)


def test_raw_utf8_headers_are_read_as_utf8() -> None:
    raw = (
        "Subject: héllo ünicode =?utf-8?q?caf=C3=A9?=\r\n"
        "From: Zoë <ZOE@Example.test>\r\n"
        "To: bot@dispatch.test, =?utf-8?b?w4lsw6h2ZQ==?= <e@dispatch.test>\r\n\r\nbody\r\n"
    ).encode()
    parsed = parse(raw)
    assert parsed.subject == "héllo ünicode café"
    assert parsed.from_header == "Zoë <ZOE@Example.test>"
    assert parsed.from_address == "zoe@example.test"
    assert parsed.to_addresses == ["bot@dispatch.test", "e@dispatch.test"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Subject: caf\xe9 latin".encode("latin-1"), "café latin"),
        (b"Subject: =?utf-8?q?Votre_code?=\r\n =?utf-8?q?_123?=", "Votre code 123"),
        (b"Subject: =?bogus?q?hi?= and =?iso-8859-1?q?caf=E9?= tail", "hi and café tail"),
        (b"Subject: Re: plain ascii", "Re: plain ascii"),
    ],
)
def test_subject_decoding(header: bytes, expected: str) -> None:
    assert parse(header + b"\r\n\r\nbody").subject == expected


def test_attached_message_is_an_attachment_not_the_body() -> None:
    forwarded = EmailMessage()
    forwarded["Subject"] = "Your old code"
    forwarded.set_content("Your verification code is 999999")
    outer = EmailMessage()
    outer["Subject"] = "Delivery Status Notification"
    outer.set_content("This message could not be delivered.")
    outer.add_attachment(forwarded)
    parsed = parse(outer.as_bytes())
    assert parsed.text is not None and "could not be delivered" in parsed.text
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]
    assert parsed.attachments[0].size_bytes > 0
    assert parsed.extraction.otp is None
