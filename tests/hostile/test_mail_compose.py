"""Header injection into composed mail (CVE-2024-6923 class): no text a caller supplies ever
becomes a header line. A control character in a field is refused naming the field; an
encoded-word in a field is text, written so that it reads back as exactly that text."""

from __future__ import annotations

import base64
import email.policy
import itertools
import re
from email.header import decode_header, make_header
from email.parser import BytesParser

import pytest

from dispatch_server.core.errors import InvalidInput
from dispatch_server.mail.addresses import display_address, parse_addresses
from dispatch_server.mail.compose import compose
from dispatch_server.mail.parse import parse_message

# Each breaks a line for some reader: str.splitlines, the email package, a mail client.
CONTROLS = ["\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x1e", "\x7f", "\x85"]
CONTROLS += ["\u2028", "\u2029", "\t", "\x1b"]
INJECTED = "X-Spam-Flag: YES"
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "utf-16", "koi8-r"]
DEFAULT_HEADERS = ["From", "To", "Subject", "Date", "Message-ID"]
BODY_HEADERS = ["MIME-Version", "Content-Type", "Content-Transfer-Encoding"]


def _q(text: str, charset: str) -> str:
    return f"=?{charset}?Q?" + "".join(f"={b:02X}" for b in text.encode(charset)) + "?="


def _b(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def _encoded_payloads() -> list[str]:
    """Encoded-words whose decoded text holds a line break, in several charsets."""
    payloads = []
    for control, charset, encode in itertools.product(CONTROLS, CHARSETS, (_q, _b)):
        try:
            word = encode(control, charset)
        except UnicodeEncodeError:
            continue
        payloads.append(f"Hello{word}{INJECTED}")
        payloads.append(f"Hello {encode(control + INJECTED, charset)}")
    return payloads


ENCODED = _encoded_payloads()


def _compose(**fields: object) -> bytes:
    args: dict[str, object] = {
        "sender": "Acme <no-reply@acme.example>",
        "to": ["bot@dispatch.test"],
        "subject": "Hello",
        "text": "hello",
        "html": None,
        "headers": {},
        "message_id_domain": "inbound.dispatch.localhost",
        "max_recipients": 100,
    }
    args.update(fields)
    return compose(**args)  # type: ignore[arg-type]


def _header_names(raw: bytes) -> list[str]:
    """The header names of `raw` as two parsers read them, which must agree."""
    compat = BytesParser(policy=email.policy.compat32).parsebytes(raw)
    strict = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert compat.keys() == strict.keys()
    assert not compat.defects and not strict.defects
    return compat.keys()


def _assert_clean(raw: bytes, extra: list[str]) -> None:
    head = raw.split(b"\r\n\r\n", 1)[0]
    # Every line ends in CRLF, and only printable ASCII is in between (encoded-words).
    assert re.fullmatch(rb"(?:[ -~]+\r\n)*[ -~]+", head), head
    assert sorted(_header_names(raw)) == sorted(DEFAULT_HEADERS + BODY_HEADERS + extra)


@pytest.mark.parametrize("control", CONTROLS, ids=[repr(c) for c in CONTROLS])
@pytest.mark.parametrize(
    ("field", "param"),
    [
        ("sender", "from"),
        ("to", "to"),
        ("subject", "subject"),
        ("header value", "headers"),
        ("address header value", "headers"),
        ("header name", "headers"),
    ],
)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_control_character_in_any_field_is_refused_naming_it(
    control: str, field: str, param: str, where: str
) -> None:
    def placed(text: str) -> str:
        return {
            "start": control + text,
            "middle": text + control + INJECTED,
            "end": text + control,
        }[where]

    choices: dict[str, dict[str, object]] = {
        "sender": {"sender": placed("Acme <a@acme.example>")},
        "to": {"to": ["bot@dispatch.test", placed("x@dispatch.test")]},
        "subject": {"subject": placed("Hello")},
        "header value": {"headers": {"X-Campaign": placed("verify")}},
        "address header value": {"headers": {"Reply-To": placed("r@acme.example")}},
        "header name": {"headers": {placed("X-Campaign"): "verify"}},
    }
    with pytest.raises(InvalidInput) as caught:
        _compose(**choices[field])
    assert caught.value.param == param


@pytest.mark.parametrize("payload", ENCODED)
def test_encoded_words_in_the_subject_are_text(payload: str) -> None:
    raw = _compose(subject=payload)
    _assert_clean(raw, [])
    assert parse_message(raw, max_parts=10, max_depth=5).subject == payload
    assert BytesParser(policy=email.policy.default).parsebytes(raw)["subject"] == payload


@pytest.mark.parametrize("payload", ENCODED)
@pytest.mark.parametrize("name", ["X-Campaign", "Reply-To-Name", "List-Id", "Keywords"])
def test_encoded_words_in_header_values_are_text(payload: str, name: str) -> None:
    raw = _compose(headers={name: payload, "X-Other": payload + "!"})
    _assert_clean(raw, [name, "X-Other"])
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert (parsed[name], parsed["X-Other"]) == (payload, payload + "!")


@pytest.mark.parametrize("payload", ENCODED[::7])
@pytest.mark.parametrize(
    ("field", "header"),
    [("sender", "From"), ("to", "To"), ("Cc", "Cc"), ("Reply-To", "Reply-To"), ("Bcc", "Bcc")],
)
def test_encoded_words_in_display_names_are_text(payload: str, field: str, header: str) -> None:
    value = f'"{payload}" <who@acme.example>'
    if field == "sender":
        raw = _compose(sender=value)
    elif field == "to":
        raw = _compose(to=[value])
    else:
        raw = _compose(headers={header: value})
    _assert_clean(raw, [] if header in DEFAULT_HEADERS else [header])
    written = BytesParser(policy=email.policy.compat32).parsebytes(raw)[header]
    [(name, address)] = parse_addresses([written], header=header)
    # Decoded as RFC 2047 says: policy.default's display names (3.11) keep the space
    # between two encoded-words.
    assert (str(make_header(decode_header(name))), address) == (payload, "who@acme.example")
    if header == "From":
        stored = parse_message(raw, max_parts=10, max_depth=5)
        assert stored.from_address == "who@acme.example"
        assert stored.from_header == display_address(payload, "who@acme.example")


@pytest.mark.parametrize(
    "text",
    [
        "Café ünïcode",
        "日本語の件名" * 30,
        "x" * 3000,
        " ".join(["word"] * 500),
        "=?",
        "a" * 997,
        "emoji 🎉 at the end 🎉",
        "",
        " leading and trailing ",
    ],
)
def test_subjects_round_trip_as_text(text: str) -> None:
    raw = _compose(subject=text)
    _assert_clean(raw, [])
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert parse_message(raw, max_parts=10, max_depth=5).subject == (" ".join(text.split()) or None)


def test_the_injection_payloads_of_the_report() -> None:
    raw = _compose(
        subject="Hello=?UTF-8?Q?=0A?=X-Spam-Flag: YES",
        headers={"X-Note": "hi=?UTF-8?Q?=0D=0A?=Bcc: victim@example.com"},
    )
    _assert_clean(raw, ["X-Note"])
    parsed = parse_message(raw, max_parts=10, max_depth=5)
    assert parsed.subject == "Hello=?UTF-8?Q?=0A?=X-Spam-Flag: YES"
    assert not parsed.spam_flagged


def test_message_ids_are_random_not_the_pid() -> None:
    ids = {
        BytesParser(policy=email.policy.compat32).parsebytes(_compose())["Message-ID"]
        for _ in range(20)
    }
    assert len(ids) == 20
    for message_id in ids:
        assert re.fullmatch(r"<[0-9a-f]{32}@inbound\.dispatch\.localhost>", message_id)


@pytest.mark.parametrize(
    ("headers", "param"),
    [
        ({}, None),
        ({"Cc": ", ".join(f"c{i}@acme.example" for i in range(60))}, None),
        ({"Cc": ", ".join(f"c{i}@acme.example" for i in range(101))}, "headers"),
        (
            {
                "To": ", ".join(f"t{i}@acme.example" for i in range(50)),
                "Cc": ", ".join(f"c{i}@acme.example" for i in range(50)),
                "Bcc": "b@acme.example",
            },
            "headers",
        ),
        ({"Bcc": ", ".join(f"b{i}@acme.example" for i in range(20_000))}, "headers"),
        ({"Reply-To": ", ".join(f"r{i}@acme.example" for i in range(150))}, None),
    ],
)
def test_recipients_are_capped_in_to_and_headers(
    headers: dict[str, str], param: str | None
) -> None:
    if param is None:
        _assert_clean(_compose(headers=headers), list(headers))
        return
    with pytest.raises(InvalidInput) as caught:
        _compose(headers=headers)
    assert caught.value.param == param


@pytest.mark.parametrize("count", [101, 20_000])
def test_too_many_to_recipients(count: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        _compose(to=[f"r{i}@dispatch.test" for i in range(count)])
    assert caught.value.param == "to"
    with pytest.raises(InvalidInput) as caught:
        _compose(to=[", ".join(f"r{i}@dispatch.test" for i in range(count))])
    assert caught.value.param in ("to",)


@pytest.mark.parametrize(
    "value",
    ["no address", "", "a@b@c.example", "<a b@c.example>", "undisclosed-recipients:;", "@x"],
)
def test_address_fields_need_addresses(value: str) -> None:
    for fields in ({"sender": value}, {"to": [value]}, {"headers": {"Cc": value}}):
        with pytest.raises(InvalidInput):
            _compose(**fields)


def test_addresses_and_names_are_written_as_given() -> None:
    raw = _compose(
        sender='"Doe, John" <john@acme.example>',
        to=["Zoë <zoe@dispatch.test>", "bot@dispatch.test"],
        headers={"Cc": "a@acme.example, Name (comment) <b@acme.example>"},
    )
    _assert_clean(raw, ["Cc"])
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert [(a.display_name, a.addr_spec) for a in parsed["to"].addresses] == [
        ("Zoë", "zoe@dispatch.test"),
        ("", "bot@dispatch.test"),
    ]
    assert str(parsed["from"]) == '"Doe, John" <john@acme.example>'
    stored = parse_message(raw, max_parts=10, max_depth=5)
    assert stored.from_header == '"Doe, John" <john@acme.example>'
    assert stored.cc_addresses == ["a@acme.example", "b@acme.example"]


@pytest.mark.parametrize("payload", ENCODED[::5])
def test_encoded_words_in_header_names_stay_one_header(payload: str) -> None:
    """A field name may hold "=?" (printable ASCII but ":"): no reader decodes names."""
    name = "X-" + payload.replace(" ", "").replace(":", "")
    if not re.fullmatch(r"[!-9;-~]+", name):
        pytest.skip("not a field name")
    raw = _compose(headers={name: "value"})
    _assert_clean(raw, [name])
