"""Nesting without end: address headers and MIME trees deep enough to exhaust the stdlib's
recursion are refused as unparseable (SMTP 554, HTTP 422), never a 451 or a 500."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import httpx
import pytest

from dispatch_client.extract import extract_message
from dispatch_client.extract.mime import MimeLimitExceeded
from dispatch_server.mail.addresses import header_recipients
from dispatch_server.mail.parse import parse_message
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import signup, smtp_send

DEEP = 2_000


def _nested(opening: str, closing: str = "", inner: str = "x@y.example") -> str:
    return opening * DEEP + inner + closing * DEEP


# Every construct of address syntax that nests, or that a parser might take for nesting.
ADDRESS_NESTINGS: dict[str, str] = {
    "comments": _nested("(", ")") + " a@b.example",
    "comments unclosed": "a@b.example " + "(" * DEEP,
    "comments in a display name": "Name " + _nested("(", ")") + " <a@b.example>",
    "comments in the domain": "a@b.example" + _nested("(", ")"),
    "escaped closing parens": "(" + "(\\)" * DEEP + ") a@b.example",
    "comments after a CR": "a@b.example (\r\n " + "(" * DEEP,
    "groups": _nested("g:", ";"),
    "groups unclosed": "g:" * DEEP + "a@b.example",
    "groups behind quoted semicolons": 'g:";"' * DEEP + "a@b.example",
    "groups after a domain literal quote": 'a@["]' + "g:" * DEEP,
    "quoted strings": '"' + '\\"' * DEEP + '" <a@b.example>',
    "quoted strings in a row": '"a"' * DEEP + " <a@b.example>",
    "angle brackets": "<" * DEEP + "a@b.example" + ">" * DEEP,
    "route addresses": "<" + "@r.example," * DEEP + "@r.example:a@b.example>",
    "encoded-word parens": "=?utf-8?q?" + "=28" * DEEP + "?= <a@b.example>",
    "encoded-word groups": "=?utf-8?b?" + "ZzpnOmc6" * (DEEP // 3) + "?= <a@b.example>",
    "encoded-words in comments": "(" + "=?utf-8?q?=28?= (" * DEEP + "a@b.example",
}
ADDRESS_HEADERS = ("From", "To", "Cc")


def _message(header: str, value: str) -> bytes:
    fields = {"From": "a@b.example", "To": "bot@dispatch.test", "Subject": "nested"}
    fields[header] = value
    head = "".join(f"{name}: {field}\r\n" for name, field in fields.items())
    return (head + "\r\nbody\r\n").encode()


def _parse(raw: bytes) -> object:
    return parse_message(raw, max_parts=200, max_depth=10)


@pytest.mark.parametrize("header", ADDRESS_HEADERS)
@pytest.mark.parametrize("value", ADDRESS_NESTINGS.values(), ids=ADDRESS_NESTINGS.keys())
def test_nested_address_headers_are_read_or_refused(header: str, value: str) -> None:
    """Parsing either succeeds or raises MimeLimitExceeded: never a RecursionError."""
    raw = _message(header, value)
    for read in (_parse, header_recipients, extract_message):
        try:
            read(raw)
        except MimeLimitExceeded:
            assert read is not extract_message  # the SDK reads only the subject of headers
        # Any other exception (RecursionError first) fails the test.


@pytest.mark.parametrize("header", ADDRESS_HEADERS)
@pytest.mark.parametrize(("opening", "closing"), [("(", ")"), ("g:", ";")])
def test_deep_comments_and_groups_are_refused(header: str, opening: str, closing: str) -> None:
    raw = _message(header, _nested(opening, closing))
    with pytest.raises(MimeLimitExceeded, match=f"the {header} header nests too deeply"):
        _parse(raw)
    if header != "From":
        with pytest.raises(MimeLimitExceeded):
            header_recipients(raw)


@pytest.mark.parametrize("depth", [5, 50, 300])
def test_nesting_a_parser_handles_is_read(depth: int) -> None:
    value = "(" * depth + "c" + ")" * depth + " a@b.example"
    parsed = parse_message(_message("To", value), max_parts=200, max_depth=10)
    assert parsed.to_addresses == ["a@b.example"]


def _multipart(depth: int) -> bytes:
    head = b"From: a@b.example\r\nTo: bot@dispatch.test\r\nMIME-Version: 1.0\r\n"
    for level in range(depth):
        head += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
    return head + b"Content-Type: text/plain\r\n\r\nYour code is 123456\r\n"


def _attached(depth: int) -> bytes:
    head = b"From: a@b.example\r\nTo: bot@dispatch.test\r\n"
    return head + b"Content-Type: message/rfc822\r\n\r\n" * depth + b"\r\nhi\r\n"


def _digests(depth: int) -> bytes:
    head = b"From: a@b.example\r\nTo: bot@dispatch.test\r\n"
    for level in range(depth // 2):  # a digest's parts are messages by default: two levels
        head += b'Content-Type: multipart/digest; boundary="d%d"\r\n\r\n--d%d\r\n' % (level, level)
    return head + b"\r\nhi\r\n"


def _mixed(depth: int) -> bytes:
    head = b"From: a@b.example\r\nTo: bot@dispatch.test\r\n"
    for level in range(depth // 2):
        head += b'Content-Type: multipart/mixed; boundary="m%d"\r\n\r\n--m%d\r\n' % (level, level)
        head += b"Content-Type: message/rfc822\r\n\r\n"
    return head + b"\r\nhi\r\n"


MIME_NESTINGS: dict[str, Callable[[int], bytes]] = {
    "multipart": _multipart,
    "message/rfc822": _attached,
    "multipart/digest": _digests,
    "multipart and message/rfc822": _mixed,
}


@pytest.mark.parametrize("build", MIME_NESTINGS.values(), ids=MIME_NESTINGS.keys())
@pytest.mark.parametrize("max_depth", [10, 100, 10**6])
def test_deep_mime_is_refused_whatever_the_depth_setting(
    build: Callable[[int], bytes], max_depth: int
) -> None:
    with pytest.raises(MimeLimitExceeded, match="MIME nesting deeper than"):
        parse_message(build(DEEP), max_parts=10**6, max_depth=max_depth)
    extract_message(build(DEEP))  # the SDK falls back on the headers


@pytest.mark.parametrize("build", MIME_NESTINGS.values(), ids=MIME_NESTINGS.keys())
def test_mime_nesting_up_to_the_setting_is_read(build: Callable[[int], bytes]) -> None:
    parse_message(build(10), max_parts=200, max_depth=10)
    parse_message(build(100), max_parts=1000, max_depth=100)


def _refused_everywhere(server: LiveServer, raw: bytes, local_part: str) -> None:
    """SMTP 554 and webhook 422 (raw form, recipients given or from the headers)."""
    address = f"{local_part}@dispatch.test"
    with pytest.raises(smtplib.SMTPDataError) as caught:
        smtp_send(server.smtp_host, server.smtp_port, address, raw)
    assert caught.value.smtp_code == 554, caught.value
    for params in ({"to": address}, {}):
        response = httpx.post(
            f"{server.base_url}/v1/webhooks/inbound",
            headers={"x-dispatch-inbound-token": INBOUND_TOKEN, "content-type": "message/rfc822"},
            params=params,
            content=raw,
            timeout=30,
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "unparseable_message"


def _folded(value: str) -> str:
    """Lines within SMTP's 998 characters (a CR also closes a comment: 1 of every 500)."""
    return "\r\n ".join(value[start : start + 500] for start in range(0, len(value), 500))


def test_nesting_is_refused_at_both_doors(live_server: LiveServer) -> None:
    signup(live_server.base_url, local_part="nest-doors")
    to = "bot <nest-doors@dispatch.test>"
    for header in ("From", "Cc"):
        for value in (_nested("(", ")"), _nested("g:", ";")):
            raw = _message(header, _folded(value)).replace(b"bot@dispatch.test", to.encode())
            _refused_everywhere(live_server, raw, "nest-doors")
    for build in MIME_NESTINGS.values():
        raw = build(DEEP).replace(b"bot@dispatch.test", b"nest-doors@dispatch.test")
        _refused_everywhere(live_server, raw, "nest-doors")


def test_nesting_in_the_json_form_is_a_client_error(live_server: LiveServer) -> None:
    """Composed or refused (400; 404 when `to` holds no inbox address), never a 500."""
    signup(live_server.base_url, local_part="nest-json")
    base = {"to": "nest-json@dispatch.test", "text": "hi"}
    bodies: list[dict[str, object]] = []
    for value in ADDRESS_NESTINGS.values():
        bodies += [{**base, "from": value}, {**base, "headers": {"Cc": value}}]
        bodies.append({**base, "to": [value.replace("x@y.example", "nest-json@dispatch.test")]})
    for body in bodies:
        response = httpx.post(
            f"{live_server.base_url}/v1/webhooks/inbound",
            headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
            json=body,
            timeout=30,
        )
        assert response.status_code in (201, 400, 404), (response.text, body)


@pytest.mark.parametrize("header", ADDRESS_HEADERS)
def test_address_headers_are_read_up_to_32_kb(header: str) -> None:
    """Beyond, the stdlib parser's cost (quadratic within a group) is refused unread."""
    within = ", ".join(f"r{i}@dispatch.test" for i in range(1_500))  # 29 KB
    assert len(within) < 32 * 1024
    parsed = parse_message(_message(header, f"list: {within};"), max_parts=10, max_depth=5)
    if header != "From":
        found = parsed.to_addresses if header == "To" else parsed.cc_addresses
        assert len(found) == 1_500
    beyond = _message(header, ", ".join(f"r{i}@dispatch.test" for i in range(20_000)))
    with pytest.raises(MimeLimitExceeded, match="longer than 32768 characters"):
        parse_message(beyond, max_parts=10, max_depth=5)
    split = _message(header, within).replace(
        b"\r\nSubject:", f"\r\n{header}: {within}\r\nSubject:".encode()
    )
    with pytest.raises(MimeLimitExceeded, match="longer than"):  # all its values together
        parse_message(split, max_parts=10, max_depth=5)
