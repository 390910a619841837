"""MIME parsing into stored fields: headers, bodies, attachments."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from dispatch_client.extract import extract_message
from dispatch_server.mail.parse import ParsedMessage, parse_message


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


def test_server_and_sdk_read_every_corpus_message_alike(corpus_dir: Path) -> None:
    """One extractor: what the server stores is what `extract_message` finds client-side."""
    files = sorted(corpus_dir.glob("*.eml"))
    assert len(files) >= 100
    for path in files:
        raw = path.read_bytes()
        server, client = parse(raw).extraction, extract_message(raw)
        assert (server.otp, server.primary_link) == (client.otp, client.primary_link), path.name


def test_bounce_with_the_original_inline_gives_no_code_on_either_side() -> None:
    original = EmailMessage()
    original["Subject"] = "Your code"
    original.set_content("Your verification code is 482913")
    report = EmailMessage()
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content("<p>This message could not be delivered.</p>", subtype="html")
    report.make_mixed()
    inline = EmailMessage()
    inline.set_content(original)  # message/rfc822 without Content-Disposition: attachment
    report.attach(inline)
    raw = report.as_bytes()
    assert parse(raw).extraction.otp is None
    assert extract_message(raw).otp is None


def test_encoded_words_decode_like_bodies() -> None:
    """Mislabelled charsets in a subject decode as in a body (the label's superset)."""
    assert parse(b"Subject: =?iso-8859-1?q?Preis_=8050?=\r\n\r\nx").subject == "Preis €50"
    assert parse(b"Subject: =?x-unknown?q?caf=C3=A9?=\r\n\r\nx").subject == "café"
