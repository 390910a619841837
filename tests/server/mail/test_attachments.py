"""The ranges recorded at parse time and the piecewise decoders: whatever the chunk size, a
range decoded piece by piece is what the email package decodes from the whole message; and
names made safe. Pure functions: the database side is tests/server/api/test_attachments.py."""

from __future__ import annotations

import email
import email.base64mime
import email.policy
import email.quoprimime
import os
from email.message import EmailMessage, Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_server.mail import parse
from dispatch_server.mail.attachments import MAX_FILENAME_BYTES, decoder, safe_filename

LIMITS = {"max_parts": 200, "max_depth": 10}


def raw_with(encoding: str, body: bytes) -> bytes:
    return (
        b"From: a@b.test\r\nTo: c@d.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain'
        b"\r\n\r\nhi\r\n--b\r\nContent-Type: application/x-y\r\nContent-Disposition: attachment"
        b"\r\nContent-Transfer-Encoding: "
        + encoding.encode()
        + b"\r\n\r\n"
        + body
        + b"\r\n--b--\r\n"
    )


def decoded_in_pieces(raw: bytes, attachment: parse.Attachment, size: int) -> bytes:
    assert attachment.start is not None and attachment.length is not None
    assert attachment.encoding is not None
    body = raw[attachment.start : attachment.start + attachment.length]
    decoding = decoder(attachment.encoding)
    pieces = [decoding.feed(body[at : at + size]) for at in range(0, len(body), size)]
    return b"".join(pieces) + decoding.end()


def email_package(raw: bytes) -> bytes:
    leaf: Message = list(email.message_from_bytes(raw).walk())[-1]
    payload = leaf.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


BODIES = {
    "base64": st.binary(max_size=3000).map(
        lambda b: email.base64mime.body_encode(b, maxlinelen=76).encode()
    ),
    "quoted-printable": st.text(max_size=2000).map(
        lambda t: email.quoprimime.body_encode(t).encode("utf-8", "surrogateescape")
    ),
    "8bit": st.binary(max_size=2000).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"\r\n")),
}


@pytest.mark.parametrize("encoding", sorted(BODIES))
@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=700))
def test_pieces_decode_as_the_whole(encoding: str, data: st.DataObject, size: int) -> None:
    body = data.draw(BODIES[encoding])
    raw = raw_with(encoding, body)
    [attachment] = parse.parse_message(raw, **LIMITS).attachments
    if attachment.start is None:  # a body of bytes that cannot be found as written
        assert parse.attachment_payload(raw, 0, **LIMITS) == email_package(raw)
        return
    assert decoded_in_pieces(raw, attachment, size) == email_package(raw)
    assert attachment.size_bytes == len(email_package(raw))


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("base64", b"aGVs bG8g\r\n!!d29y\r\nbGQ"),  # junk characters, no padding
        ("base64", b"aGVsbG8=\r\nd29ybGQ="),  # padding in the middle: the rest ignored
        ("base64", b"QUJDRA==\r\n-- \r\nfooter text"),  # a signature after the padding
        ("base64", b"QQ==Qg=="),  # two bodies run together: the first
        ("base64", b"QQ=x=Qg=="),  # a lone `=` before more letters does not end it
        ("base64", b"00=00000000=0000"),  # letters in between start the padding again
        ("base64", b"aGVsbG8gd"),  # one character too many
        ("base64", b""),
        ("quoted-printable", b"=E9=\r\n=\r\n=4"),  # soft breaks, a cut escape at the end
        ("quoted-printable", b"x" * 200_000 + b"=C3=A9"),  # no line end at all
        ("quoted-printable", b"=" * 1000),
        ("binary", bytes(range(256)) * 10),
        ("x-custom", b"as \xff written"),
    ],
)
@pytest.mark.parametrize("size", [1, 3, 64 * 1024 + 1])
def test_hostile_bodies(encoding: str, body: bytes, size: int) -> None:
    raw = raw_with(encoding, body)
    [attachment] = parse.parse_message(raw, **LIMITS).attachments
    expected = email_package(raw)
    if encoding == "base64" and body == b"aGVsbG8gd":
        # An impossible length, which the email package returns undecoded: read whole.
        assert attachment.start is None
        assert parse.attachment_payload(raw, 0, **LIMITS) == expected == b"aGVsbG8gd"
        return
    assert decoded_in_pieces(raw, attachment, size) == expected


def test_a_body_written_elsewhere_too_decodes_the_same() -> None:
    message = EmailMessage()
    message["From"] = "a@b.test"
    message["Subject"] = "aGVsbG8="  # the attachments' encoded body, in a header first
    message.set_content("hi")
    for _ in range(3):  # the same body three times
        message.add_attachment(b"hello", maintype="application", subtype="x", filename="h")
    raw = message.as_bytes(policy=email.policy.SMTP)
    found = parse.parse_message(raw, **LIMITS).attachments
    assert [a.encoding for a in found] == ["base64"] * 3
    assert all(decoded_in_pieces(raw, a, 2) == b"hello" for a in found)


def test_parts_without_a_range_are_read_whole() -> None:
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("inner body")
    outer = EmailMessage()
    outer["From"] = "a@b.test"
    outer.set_content("x")
    outer.add_attachment(inner)
    raw = outer.as_bytes()
    uu = raw_with("x-uuencode", b"begin 644 f\r\n%:&5L;&\\`\r\n`\r\nend")
    for message in (raw, uu):
        [attachment] = parse.parse_message(message, **LIMITS).attachments
        assert (attachment.start, attachment.length, attachment.encoding) == (None, None, None)
        assert parse.attachment_payload(message, 0, **LIMITS)
    assert parse.attachment_payload(raw, 1, **LIMITS) is None
    assert parse.attachment_payload(raw, -1, **LIMITS) is None


def test_mail_without_attachments_records_nothing() -> None:
    raw = b"From: a@b.test\r\nSubject: s\r\n\r\nhello\r\n"
    assert parse.parse_message(raw, **LIMITS).attachments == []


@given(st.text(max_size=600))
def test_any_name_becomes_a_safe_one(name: str) -> None:
    safe = safe_filename(name, 0)
    assert safe and len(safe.encode()) <= MAX_FILENAME_BYTES
    assert not set(safe) & set('/\\<>:"|?*\x00\r\n\t\u202e\u2066\u200b')
    assert safe == safe.strip(" .")
    assert safe.split(".")[0].lower() not in ("con", "nul", "aux", "prn", "com1", "lpt1")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        (None, "attachment-3"),
        ("", "attachment-3"),
        ("=?utf-8?q?caf=C3=A9.txt?=", "café.txt"),
        ("=?broken", "=_broken"),
        ("Lpt9.log", "_Lpt9.log"),
        ("x" * 300 + "." + "y" * 30, "x" * 255),  # an "extension" too long to keep
        ("cafe\u0301.txt", "café.txt"),  # NFC
        ("a\ud800b.txt", "a\ufffdb.txt"),  # a lone surrogate
    ],
)
def test_names(name: str | None, safe: str) -> None:
    assert safe_filename(name, 2) == safe


def test_a_large_attachment_is_one_range() -> None:
    data = os.urandom(3 * 1024 * 1024)
    message = EmailMessage()
    message["From"] = "a@b.test"
    message.set_content("x")
    message.add_attachment(data, maintype="application", subtype="zip", filename="a.zip")
    raw = message.as_bytes(policy=email.policy.SMTP)
    [attachment] = parse.parse_message(raw, **LIMITS).attachments
    assert decoded_in_pieces(raw, attachment, 256 * 1024) == data


def raw_in_charset(charset: str, encoding: str, body: bytes, before: bytes) -> bytes:
    return (
        b"From: a@b.test\r\nTo: c@d.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain'
        b"\r\n\r\n" + before + b"\r\n--b\r\nContent-Type: application/x-y; charset="
        + charset.encode()
        + b"\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: "
        + encoding.encode() + b"\r\n\r\n" + body + b"\r\n--b--\r\n"
    )  # fmt: skip


@pytest.mark.parametrize("charset", ["cp037", "cp500", "utf-16", "utf-7", "latin-1", "koi8-r"])
@pytest.mark.parametrize("encoding", ["base64", "quoted-printable", "8bit", "binary", "7bit"])
@pytest.mark.parametrize("text", ["QUJD", "aGVsbG8gd29ybGQh", "café", "x+AGE-y"])
def test_a_range_holds_the_bytes_as_written_whatever_the_charset(
    charset: str, encoding: str, text: str
) -> None:
    """The body is searched for as written, never as decoded for its charset: an earlier
    part holding the charset-decoded text is never taken for it."""
    try:
        body = text.encode(charset)
    except UnicodeEncodeError:
        return
    raw = raw_in_charset(charset, encoding, body, before=text.encode())
    [attachment] = parse.parse_message(raw, **LIMITS).attachments
    expected = email_package(raw)
    if attachment.start is None:  # 8-bit bytes in base64 or QP: the whole-message path
        assert encoding in ("base64", "quoted-printable") and not body.isascii()
        assert parse.attachment_payload(raw, 0, **LIMITS) == expected
        return
    assert raw[attachment.start : attachment.start + (attachment.length or 0)] == body
    for size in (1, 3, 1000):
        assert decoded_in_pieces(raw, attachment, size) == expected


class Scanned(bytes):
    """Raw mail that counts the bytes its searches cover."""

    scanned = 0

    def find(self, sub: object, start: object = None, end: object = None) -> int:
        assert isinstance(sub, bytes) and isinstance(start, int) and end is None
        at = super().find(sub, start)
        Scanned.scanned += (len(self) if at < 0 else at + len(sub)) - start
        return at


def many_parts(count: int, body: bytes) -> bytes:
    part = (
        b"--b\r\nContent-Type: application/x-y; charset=cp037\r\nContent-Disposition: attachment"
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n"
    )
    head = b'From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"'
    padding = b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 76 * 1000 + b"\r\n"
    return head + b"\r\n\r\n" + padding + part * count + b"--b--\r\n"


@pytest.mark.parametrize("body", [b"QUJD", "QUJD".encode("cp037"), b""])
def test_the_searches_cover_the_message_about_once(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many parts, and even when a body is not found (each search would then start
    again where the last found one ended): no more than twice the message's bytes."""
    raw = many_parts(300, body)
    Scanned.scanned = 0
    parsed = parse.parse_message(Scanned(raw), **LIMITS | {"max_parts": 1000})
    assert len(parsed.attachments) == 300
    assert Scanned.scanned <= len(raw)

    written = parse._written_body
    calls: list[int] = []

    def first_not_found(part: Message) -> bytes | None:
        calls.append(1)
        return b"\x00never written\x00" if len(calls) == 1 else written(part)

    monkeypatch.setattr(parse, "_written_body", first_not_found)
    Scanned.scanned = 0
    parsed = parse.parse_message(Scanned(raw), **LIMITS | {"max_parts": 1000})
    assert [a.start for a in parsed.attachments] == [None] * 300  # read whole
    assert Scanned.scanned <= 2 * len(raw)


BASE64_JUNK = st.text(
    alphabet=st.sampled_from("ABCDQUJDRAgIeh+/09=====\r\n\t -.!:"), max_size=400
).map(str.encode)


@settings(max_examples=1000, deadline=None)
@given(
    data=st.binary(max_size=300),
    tail=BASE64_JUNK,
    head=BASE64_JUNK,
    size=st.integers(min_value=1, max_value=50),
)
def test_base64_decodes_as_the_email_package_padding_junk_and_all(
    data: bytes, tail: bytes, head: bytes, size: int
) -> None:
    """Whatever comes before a base64 body and after its padding (a footer, a second body,
    stray `=`), in pieces of any size: what `get_payload(decode=True)` gives."""
    for body in (email.base64mime.body_encode(data).encode() + tail, head, head + tail):
        raw = raw_with("base64", body)
        [attachment] = parse.parse_message(raw, **LIMITS).attachments
        expected = email_package(raw)
        assert attachment.size_bytes == len(expected)
        if attachment.start is None:  # one character too many: returned undecoded
            assert parse.attachment_payload(raw, 0, **LIMITS) == expected
            continue
        assert decoded_in_pieces(raw, attachment, size) == expected
