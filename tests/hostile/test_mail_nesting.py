"""Nesting without end: MIME trees deep enough to exhaust the stdlib's recursion are refused
as unparseable (SMTP 554, HTTP 422), never a 451 or a 500."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import httpx
import pytest

from dispatch_client.extract import extract_message
from dispatch_client.extract.mime import MimeLimitExceeded
from dispatch_server.mail.parse import parse_message
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import signup, smtp_send

DEEP = 2_000


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


def test_deep_mime_is_refused_at_both_doors(live_server: LiveServer) -> None:
    signup(live_server.base_url, local_part="nest-doors")
    for build in MIME_NESTINGS.values():
        raw = build(DEEP).replace(b"bot@dispatch.test", b"nest-doors@dispatch.test")
        _refused_everywhere(live_server, raw, "nest-doors")
