"""Text a database cannot store, and headers that cost too much to decode: every door stores
the mail (a 250 is a promise) and every read of it answers, whatever the charset produced."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from dispatch_server.mail.parse import MAX_DECODED_HEADER_CHARS, parse_message
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, signup, smtp_send

# What UTF-7 decodes to a lone surrogate (U+D83D), in each place a message carries text.
LONE_SURROGATE_UTF7 = "+2D0-"
B64_UTF7 = base64.b64encode(f"x{LONE_SURROGATE_UTF7}y".encode()).decode()


def _mail(to: str, place: str) -> bytes:
    subject, sender, body, disposition = "Hello", "a@acme.test", "plain body", ""
    charset = "utf-8"
    if place == "body":
        body, charset = f"code 123456 {LONE_SURROGATE_UTF7}", "utf-7"
    elif place == "subject-q":
        subject = f"=?utf-7?Q?x{LONE_SURROGATE_UTF7}y?="
    elif place == "subject-b":
        subject = f"=?utf-7?B?{B64_UTF7}?="
    elif place == "display-name":
        sender = f"=?utf-7?Q?x{LONE_SURROGATE_UTF7}?= <a@acme.test>"
    elif place == "filename":
        disposition = f'attachment; filename="=?utf-7?Q?f{LONE_SURROGATE_UTF7}.txt?="'
    elif place == "nul":
        body = "code\x00 123456"
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{place}.{time.monotonic_ns()}@acme.test>\r\nMIME-Version: 1.0\r\n"
    )
    if not disposition:
        return (head + f"Content-Type: text/plain; charset={charset}\r\n\r\n{body}\r\n").encode()
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        f"--b\r\nContent-Type: text/plain\r\nContent-Disposition: {disposition}\r\n\r\nx\r\n"
        "--b--\r\n"
    ).encode()


PLACES = ["body", "subject-q", "subject-b", "display-name", "filename", "nul"]


@pytest.mark.parametrize("place", PLACES)
def test_unstorable_text_is_stored_and_read_back_at_both_doors(
    live_server: LiveServer, place: str
) -> None:
    account = signup(live_server.base_url, local_part=f"unstorable-{place}")
    address, key = account["inbox"]["address"], account["inbox_key"]
    smtp_send(live_server.smtp_host, live_server.smtp_port, address, _mail(address, place))
    response = httpx.post(
        f"{live_server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN, "content-type": "message/rfc822"},
        params={"to": address},
        content=_mail(address, place),
    )
    assert response.status_code == 201, response.text
    base = f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}"
    listed = httpx.get(f"{base}/messages", headers=bearer(key))
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["data"]) == 2
    for summary in listed.json()["data"]:
        message = httpx.get(f"{base}/messages/{summary['id']}", headers=bearer(key))
        assert message.status_code == 200, message.text
        text = message.text.encode().decode("utf-8")  # valid UTF-8 JSON
        assert "\\ud83d" not in text.lower() and "\\u0000" not in text


@pytest.mark.parametrize("encoding", ["Q", "B"])
def test_a_huge_subject_of_encoded_words_is_decoded_only_so_far(encoding: str) -> None:
    """The decoder is quadratic in the number of words: a subject of 400,000 of them (8 MB)
    took minutes. Only the first 32 KB are decoded, so the parse reads the rest raw."""
    word = "=?utf-8?Q?ab?=" if encoding == "Q" else "=?utf-8?B?YWI=?="
    raw = (
        "From: a@acme.test\r\nTo: b@dispatch.test\r\nSubject: "
        + " ".join([word] * 400_000)
        + "\r\n\r\nbody\r\n"
    ).encode()
    parsed = parse_message(raw, max_parts=200, max_depth=10)
    assert parsed.subject is not None and parsed.subject.startswith("abababab")
    assert len(parsed.subject) <= MAX_DECODED_HEADER_CHARS
