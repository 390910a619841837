"""Sender forgery through encoded-words: an "@", "<", ">", "," or quote that an encoded-word
hides in a display name stays in the display name. Addresses are read from the raw header;
display names are decoded afterwards."""

from __future__ import annotations

import base64
import itertools

import httpx
import pytest

from dispatch_server.mail.addresses import display_address, header_recipients
from dispatch_server.mail.parse import parse_message
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, signup

REAL = "attacker@evil.example"
# What a forger would like the display name to be read as.
FORGED_NAMES = [
    "security@bank.example",
    "<security@bank.example>",
    "Bank <security@bank.example>",
    "security@bank.example, ceo@bank.example",
    '"Bank" <security@bank.example>',
    "security@bank.example>",
    "<",
    ",",
    '"',
    "a@b.example; c@d.example",
    "Bank (security@bank.example)",
]
CHARSETS = ["utf-8", "iso-8859-1", "us-ascii", "windows-1252"]


def _q(text: str, charset: str) -> str:
    return f"=?{charset}?q?" + "".join(f"={byte:02X}" for byte in text.encode(charset)) + "?="


def _q_upper(text: str, charset: str) -> str:
    return _q(text, charset.upper()).replace("?q?", "?Q?")


def _b(text: str, charset: str) -> str:
    return f"=?{charset}?b?{base64.b64encode(text.encode(charset)).decode()}?="


def _q_split(text: str, charset: str) -> str:
    """Two encoded-words, split inside the forged address."""
    half = len(text) // 2
    return _q(text[:half], charset) + " " + _q(text[half:], charset)


def _plain_then_q(text: str, charset: str) -> str:
    return "Support " + _q(text, charset)


ENCODINGS = [_q, _q_upper, _b, _q_split, _plain_then_q]
CASES = list(itertools.product(FORGED_NAMES, CHARSETS, ENCODINGS))


def _id(case: tuple[str, str, object]) -> str:
    name, charset, encode = case
    return f"{getattr(encode, '__name__', encode)}-{charset}-{name}"


def _mail(header: str, value: str) -> bytes:
    fields = {"From": "sender@acme.example", "To": "bot@dispatch.test", "Subject": "hello"}
    fields[header] = value
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\nhello\r\n").encode()


@pytest.mark.parametrize("case", CASES, ids=[_id(case) for case in CASES])
@pytest.mark.parametrize("quoted", [False, True])
def test_encoded_display_names_cannot_name_the_sender(
    case: tuple[str, str, object], quoted: bool
) -> None:
    name, charset, encode = case
    assert callable(encode)
    word = encode(name, charset)
    shown = f'"{word}"' if quoted else word
    parsed = parse_message(_mail("From", f"{shown} <{REAL}>"), max_parts=50, max_depth=10)
    assert parsed.from_address == REAL
    decoded = name if encode not in (_plain_then_q,) else f"Support {name}"
    assert parsed.from_header == display_address(decoded, REAL)
    for header in ("To", "Cc"):
        raw = _mail(header, f"{shown} <{REAL}>, other@dispatch.test")
        parsed = parse_message(raw, max_parts=50, max_depth=10)
        found = parsed.to_addresses if header == "To" else parsed.cc_addresses
        assert found == [REAL, "other@dispatch.test"]
        assert REAL in header_recipients(raw)
        assert "security@bank.example" not in header_recipients(raw)


@pytest.mark.parametrize("encode", [_q, _b])
def test_an_encoded_address_alone_is_no_address(encode: object) -> None:
    """`From: =?utf-8?q?security=40bank.example?=` names no address at all."""
    assert callable(encode)
    raw = _mail("From", encode("security@bank.example", "utf-8"))
    parsed = parse_message(raw, max_parts=50, max_depth=10)
    assert parsed.from_address is None
    assert parsed.from_header == "security@bank.example"
    assert header_recipients(_mail("To", encode("bot@dispatch.test", "utf-8"))) == ()


def test_a_forged_sender_through_the_webhook(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="forgery")
    raw = (
        b"From: =?UTF-8?Q?security=40bank.example?= <attacker@evil.example>\r\n"
        b"To: forgery@dispatch.test\r\nSubject: Reset your password\r\n\r\nhello\r\n"
    )
    response = httpx.post(
        f"{live_server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN, "content-type": "message/rfc822"},
        content=raw,
    )
    assert response.status_code == 201, response.text
    message_id = response.json()["deliveries"][0]["message_id"]
    message = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/messages/{message_id}",
        headers=bearer(account["inbox_key"]),
    ).json()
    assert message["from_address"] == "attacker@evil.example"
    assert message["from"] == '"security@bank.example" <attacker@evil.example>'
