"""Millions of MIME parts: the part and depth caps stop the parse as soon as they are passed,
so such a message costs what its first parts do, not seconds of CPU (a 10 MB message of
1.4 M empty parts took 13-17 s when the caps were checked after a full parse)."""

from __future__ import annotations

import email.policy
from collections.abc import Callable, Iterator
from email.message import Message
from email.policy import Policy
from typing import Any

import pytest

from dispatch_client.extract import extract_message
from dispatch_client.extract.mime import MimeLimitExceeded, parse_bytes
from dispatch_server.mail.parse import parse_message

SIZE = 10 * 1024 * 1024
MAX_PARTS = 200


@pytest.fixture
def parts_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many message objects (parts) the parser makes: counted by Message itself."""
    made = [0]
    init = Message.__init__

    def counting(self: Message, *args: Any, **kwargs: Any) -> None:
        made[0] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(Message, "__init__", counting)
    yield made


def _head(content_type: str) -> bytes:
    return (
        b"From: a@b.example\r\nTo: bot@dispatch.test\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
    )


def _empty_parts(newline: bytes = b"\r\n", boundary: bytes = b"b") -> bytes:
    head = _head(f'multipart/mixed; boundary="{boundary.decode()}"').replace(b"\r\n", newline)
    part = b"--" + boundary + newline + newline
    return head + part * ((SIZE - len(head)) // len(part))


def _parts_with_headers() -> bytes:
    head = _head("multipart/alternative; boundary=x")
    part = b"--x\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return head + part * ((SIZE - len(head)) // len(part))


def _wide_and_deep() -> bytes:
    """Multiparts in multiparts, each of a few empty parts."""
    pieces = [_head("multipart/mixed; boundary=l0")]
    size = level = 0
    while size < SIZE:
        piece = b"--l%d\r\n\r\n" % level * 3
        piece += b"--l%d\r\nContent-Type: multipart/mixed; boundary=l%d\r\n\r\n" % (
            level,
            level + 1,
        )
        pieces.append(piece)
        size += len(piece)
        level = (level + 1) % 5  # stays within the depth cap: only the count stops it
    return b"".join(pieces)


def _inside_an_attached_message() -> bytes:
    """The empty parts inside a message/rfc822 attachment (whose parts the walk skips, but
    the parser makes)."""
    inner = _empty_parts().replace(b"From: a@b.example\r\n", b"From: inner@b.example\r\n")
    return (
        _head("multipart/mixed; boundary=o")
        + b"--o\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
    )


def _digest() -> bytes:
    head = _head("multipart/digest; boundary=d")
    return head + b"--d\r\n\r\n" * ((SIZE - len(head)) // 7)


MESSAGES: dict[str, Callable[[], bytes]] = {
    "empty parts CRLF": _empty_parts,
    "empty parts LF": lambda: _empty_parts(b"\n"),
    "empty parts, long boundary": lambda: _empty_parts(boundary=b"=_" + b"q" * 60),
    "parts with headers": _parts_with_headers,
    "wide and deep": _wide_and_deep,
    "inside an attached message": _inside_an_attached_message,
    "digest": _digest,
}


@pytest.mark.parametrize("build", MESSAGES.values(), ids=MESSAGES.keys())
@pytest.mark.parametrize("policy", [email.policy.compat32, email.policy.default])
def test_the_parse_stops_at_the_part_cap(
    build: Callable[[], bytes], policy: Policy, parts_made: list[int]
) -> None:
    raw = build()
    assert len(raw) > SIZE - 1024
    parts_made[0] = 0
    with pytest.raises(MimeLimitExceeded, match=f"more than {MAX_PARTS} MIME parts"):
        parse_bytes(raw, policy=policy, max_parts=MAX_PARTS, max_depth=10)
    assert parts_made[0] <= MAX_PARTS + 2  # the parser makes one to try its factory


@pytest.mark.parametrize("build", MESSAGES.values(), ids=MESSAGES.keys())
def test_ingest_and_the_sdk_stop_early_too(
    build: Callable[[], bytes], parts_made: list[int]
) -> None:
    raw = build()
    parts_made[0] = 0
    with pytest.raises(MimeLimitExceeded):
        parse_message(raw, max_parts=MAX_PARTS, max_depth=10)
    assert parts_made[0] <= MAX_PARTS + 2
    parts_made[0] = 0
    extract_message(raw)  # beyond the caps: the subject alone
    assert parts_made[0] <= MAX_PARTS + 2 + 1  # and one for reading the headers


def test_the_part_count_is_the_walks() -> None:
    """A message of exactly max_parts parts (the root counted) is read."""
    head = _head("multipart/mixed; boundary=b")
    raw = head + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * (MAX_PARTS - 1) + b"--b--\r\n"
    parsed = parse_message(raw, max_parts=MAX_PARTS, max_depth=10)
    assert parsed.text == "x"
    with pytest.raises(MimeLimitExceeded):
        parse_message(raw, max_parts=MAX_PARTS - 1, max_depth=10)
