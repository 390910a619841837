"""Attachments over real SMTP and HTTP on both databases: the list (safe names, types,
sizes, Content-IDs), downloads byte for byte in every transfer encoding and across chunks,
the headers that keep a download from running on this origin, the same access as reading
the message, bad ids named by field, mail stored before ranges were recorded, and the
SDK's list, stream and save, sync and async."""

from __future__ import annotations

import asyncio
import email.policy
import os
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_client import (
    AsyncDispatch,
    Dispatch,
    InvalidArgumentError,
    MessageAttachment,
    NotFoundError,
)
from dispatch_server.api.attachments import CHUNK_BYTES
from dispatch_server.db import tables as t
from tests.conftest import LiveServer
from tests.helpers import bearer, error_code, signup, smtp_send

BIG = os.urandom(CHUNK_BYTES * 2 + 12345)  # base64 of it spans four chunks
TEXT = "".join(f"ligne {n}: café = naïve, tab\there\n" for n in range(20000))


def mail(to: str, parts: list[dict[str, Any]], sender: str = "bot@acme.test") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "files"
    message.set_content("see attached")
    for part in parts:
        data = part["data"]
        if isinstance(data, str):
            message.add_attachment(
                data, subtype=part.get("subtype", "plain"), cte=part.get("cte"), **part["more"]
            )
        else:
            maintype, subtype = part.get("type", "application/octet-stream").split("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, **part["more"])
    return message.as_bytes(policy=email.policy.SMTP)


class Inbox:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.account = signup(server.base_url)
        self.id: str = self.account["inbox"]["id"]
        self.address: str = self.account["inbox"]["address"]
        self.key: str = self.account["inbox_key"]

    def receive(self, raw: bytes, sender: str = "bot@acme.test") -> str:
        before = {m["id"] for m in self.messages()}
        assert (
            smtp_send(self.server.smtp_host, self.server.smtp_port, self.address, raw, sender) == {}
        )
        [new] = [m for m in self.messages() if m["id"] not in before]
        return str(new["id"])

    def messages(self) -> list[dict[str, Any]]:
        answer = self.get("/messages", params={"folder": "all"})
        assert answer.status_code == 200, answer.text
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    def get(self, path: str, key: str | None = None, **more: Any) -> httpx.Response:
        return httpx.get(
            f"{self.server.base_url}/v1/inboxes/{self.id}{path}",
            headers=bearer(key or self.key),
            timeout=30,
            **more,
        )

    def listed(self, message_id: str) -> list[dict[str, Any]]:
        answer = self.get(f"/messages/{message_id}/attachments")
        assert answer.status_code == 200, answer.text
        assert answer.json()["next_cursor"] is None
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    def download(self, message_id: str, attachment_id: int | str) -> httpx.Response:
        return self.get(f"/messages/{message_id}/attachments/{attachment_id}")


def test_every_encoding_downloads_byte_for_byte(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    parts: list[dict[str, Any]] = [
        {"data": BIG, "more": {"filename": "big.bin"}},  # base64
        {"data": TEXT, "cte": "quoted-printable", "more": {"filename": "notes.txt"}},
        {"data": "plain 7bit text\n" * 10, "cte": "7bit", "more": {"filename": "a.txt"}},
        {"data": "8bit é ü text\n" * 10, "cte": "8bit", "more": {"filename": "b.txt"}},
        {"data": b"", "more": {"filename": "empty.bin"}},
        {"data": b"\x89PNG fake", "type": "image/png", "more": {"cid": "<logo@acme.test>"}},
    ]
    message_id = inbox.receive(mail(inbox.address, parts))
    listed = inbox.listed(message_id)
    assert [a["id"] for a in listed] == list(range(6))
    assert [a["filename"] for a in listed] == [
        "big.bin",
        "notes.txt",
        "a.txt",
        "b.txt",
        "empty.bin",
        "attachment-6",
    ]
    assert listed[5]["content_id"] == "logo@acme.test" and listed[0]["content_id"] is None
    expected = [
        BIG,
        TEXT.replace("\n", "\r\n").encode(),
        ("plain 7bit text\r\n" * 10).encode(),
        ("8bit é ü text\r\n" * 10).encode(),
        b"",
        b"\x89PNG fake",
    ]
    for attachment, content in zip(listed, expected, strict=True):
        answer = inbox.download(message_id, attachment["id"])
        assert answer.status_code == 200, answer.text
        assert answer.content == content, attachment
        assert attachment["size_bytes"] == len(content)
    # The single-message view lists the same ones.
    shown = inbox.get(f"/messages/{message_id}").json()["attachments"]
    assert [a["size_bytes"] for a in shown] == [a["size_bytes"] for a in listed]


def test_a_download_is_never_shown_inline(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    html = "<script>alert(document.cookie)</script>"
    parts: list[dict[str, Any]] = [
        {"data": html, "subtype": "html", "more": {"filename": "page.html"}},
        {"data": b"<svg onload=alert(1)>", "type": "image/svg+xml", "more": {"filename": "x.svg"}},
    ]
    message_id = inbox.receive(mail(inbox.address, parts))
    for attachment_id, content_type in ((0, "text/html"), (1, "image/svg+xml")):
        answer = inbox.download(message_id, attachment_id)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(content_type)
        assert answer.headers["content-disposition"].startswith("attachment;")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in answer.headers["content-security-policy"]


def test_a_content_type_that_is_no_type_is_served_as_octet_stream(
    live_server: LiveServer,
) -> None:
    inbox = Inbox(live_server)
    raw = (
        f"From: bot@acme.test\r\nTo: {inbox.address}\r\nSubject: odd\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain'
        "\r\n\r\nhi\r\n--b\r\nContent-Type: text/html\x0b; x=1\r\nContent-Disposition: "
        "attachment\r\n\r\n<b>x</b>\r\n--b--\r\n"
    ).encode()
    message_id = inbox.receive(raw)
    [attachment] = inbox.listed(message_id)
    answer = inbox.download(message_id, attachment["id"])
    assert answer.status_code == 200 and answer.content == b"<b>x</b>"
    assert answer.headers["content-disposition"].startswith("attachment;")


HOSTILE_NAMES = [
    # (as the part names it, as the list shows it)
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override
    ("re\u2066port\u2069.pdf", "report.pdf"),  # bidi isolates
    ("zero\u200bwidth.txt", "zerowidth.txt"),
    ("tab\tand\x01ctrl\x7f.txt", "tab andctrl.txt"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1.tar.gz", "_com1.tar.gz"),
    ("what?<is>|this*.txt", "what__is__this_.txt"),
    ('quote"d.txt', "quote_d.txt"),
    ("...", "attachment-1"),
    (" .hidden. ", "hidden"),
    ("/", "attachment-1"),
    ("Résumé 履歴書.pdf", "Résumé 履歴書.pdf"),
    ("a" * 400 + ".pdf", "a" * 251 + ".pdf"),
    ("é" * 300, "é" * 127),
]


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES)
def test_file_names_are_made_safe(live_server: LiveServer, name: str, shown: str) -> None:
    inbox = Inbox(live_server)
    message_id = inbox.receive(mail(inbox.address, [{"data": b"x", "more": {"filename": name}}]))
    [attachment] = inbox.listed(message_id)
    assert attachment["filename"] == shown
    answer = inbox.download(message_id, 0)
    assert answer.status_code == 200 and answer.content == b"x"
    disposition = answer.headers["content-disposition"]
    assert disposition.endswith(f"filename*=UTF-8''{quote(shown, safe='')}")
    ascii_name = disposition.split('filename="')[1].split('"')[0]
    assert ascii_name.isascii() and "/" not in ascii_name and "\\" not in ascii_name


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        # RFC 2231, with a charset and continuations
        ("attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf", "€ rates.pdf"),
        ("attachment; filename*0*=UTF-8''na%C3%AFve; filename*1=.txt", "naïve.txt"),
        ("attachment; filename*=iso-8859-1''caf%E9.txt", "café.txt"),
        # RFC 2047 encoded-words, which mailers use against the RFCs
        ('attachment; filename="=?UTF-8?B?0L/RgNC40LLQtdGCLnR4dA==?="', "привет.txt"),
        ('attachment; filename="=?UTF-8?Q?..=2F..=2Fpwn.sh?="', "pwn.sh"),
        # broken RFC 2231: the part still counts, under a made-up name
        ("attachment; filename*=bogus-charset''%FF%FE.txt", None),
    ],
)
def test_encoded_names_are_decoded(live_server: LiveServer, header: str, shown: str | None) -> None:
    inbox = Inbox(live_server)
    raw = (
        f"From: bot@acme.test\r\nTo: {inbox.address}\r\nSubject: n\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain'
        "\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: {header}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "aGVsbG8=\r\n--b--\r\n"
    ).encode()
    message_id = inbox.receive(raw)
    [attachment] = inbox.listed(message_id)
    if shown is not None:
        assert attachment["filename"] == shown
    else:
        assert attachment["filename"] and "/" not in attachment["filename"]
    assert inbox.download(message_id, 0).content == b"hello"


def test_hostile_bodies_download_as_the_email_package_decodes_them(
    live_server: LiveServer,
) -> None:
    bodies = [
        ("base64", "aGVs bG8g\r\n!!d29y\r\nbGQ\r\n", b"hello world"),  # junk, no padding
        ("base64", "aGVsbG8=\r\n", b"hello"),
        ("quoted-printable", "soft=\r\nbreak =C3=A9=3D\r\n" + ("x" * 70 + "=\r\n") * 9000, None),
        ("quoted-printable", "=E9=\r\n=", None),  # a lone '=' at the end
        ("x-unknown", "as written \xff", "as written \xff".encode("latin-1")),
    ]
    inbox = Inbox(live_server)
    for encoding, body, expected in bodies:
        raw = (
            f"From: bot@acme.test\r\nTo: {inbox.address}\r\nSubject: b\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain'
            "\r\n\r\nhi\r\n--b\r\nContent-Type: application/x-thing\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n--b--\r\n"
        ).encode("latin-1")
        message_id = inbox.receive(raw)
        answer = inbox.download(message_id, 0)
        assert answer.status_code == 200
        if expected is None:
            parsed = email.message_from_bytes(raw)
            payload = [p for p in parsed.walk()][-1].get_payload(decode=True)
            assert answer.content == payload, encoding
        else:
            assert answer.content == expected, encoding
        assert inbox.listed(message_id)[0]["size_bytes"] == len(answer.content)


def test_bad_ids_are_named_and_never_5xx(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    message_id = inbox.receive(mail(inbox.address, [{"data": b"x", "more": {"filename": "x"}}]))
    for bad in ["abc", "-1", "1.0", "0x1", "１", "9" * 30, "%20", "%2e%2e", "0;1"]:
        answer = inbox.download(message_id, bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"]["param"] == "attachment_id", bad
    nul = inbox.download(message_id, "0%00")  # refused before any route
    assert (nul.status_code, error_code(nul)) == (400, "invalid_request")
    for missing in ["1", "999999"]:
        answer = inbox.download(message_id, missing)
        assert (answer.status_code, error_code(answer)) == (404, "not_found"), missing
    for odd in ["x" * 5000, "..", "%2e%2e%2f%2e%2e", "msg_ü", "0", "'; drop table messages"]:
        for path in (f"/messages/{odd}/attachments", f"/messages/{odd}/attachments/0"):
            answer = inbox.get(path)
            assert answer.status_code in (400, 404), (odd, answer.status_code, answer.text)
            assert answer.json()["error"]["code"] in ("not_found", "invalid_request")


def test_access_is_that_of_reading_the_message(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    other = Inbox(live_server)
    parts = [{"data": b"secret", "more": {"filename": "s.bin"}}]
    mine = inbox.receive(mail(inbox.address, parts))
    theirs = other.receive(mail(other.address, parts))
    # Another workspace's message under one's own inbox, and another workspace's inbox.
    for path in (f"/messages/{theirs}/attachments", f"/messages/{theirs}/attachments/0"):
        answer = inbox.get(path)
        assert (answer.status_code, error_code(answer)) == (404, "not_found")
    for path in (f"/messages/{theirs}/attachments", f"/messages/{theirs}/attachments/0"):
        answer = other.get(path, key=inbox.key)
        assert (answer.status_code, error_code(answer)) == (404, "not_found")
    # No key, a wrong key: 401.
    url = f"{live_server.base_url}/v1/inboxes/{inbox.id}/messages/{mine}/attachments/0"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=bearer("dsp_nope")).status_code == 401
    # An account key gets what it gets on the message itself.
    account_key = inbox.account["account_key"]
    message = inbox.get(f"/messages/{mine}", key=account_key)
    for path in (f"/messages/{mine}/attachments", f"/messages/{mine}/attachments/0"):
        answer = inbox.get(path, key=account_key)
        assert answer.status_code == message.status_code, answer.text
    # A key without `read`, and one whose senders exclude this one's.
    without_read = mint(inbox, permissions=["wait"])
    other_senders = mint(inbox, allowed_senders=["*@github.com"])
    allowed = mint(inbox, allowed_senders=["*@acme.test"])
    for path in (f"/messages/{mine}/attachments", f"/messages/{mine}/attachments/0"):
        refused = inbox.get(path, key=without_read)
        assert refused.status_code == 403
        assert refused.json()["error"]["param"] == "read"
        hidden = inbox.get(path, key=other_senders)
        assert (hidden.status_code, error_code(hidden)) == (404, "not_found")
        assert inbox.get(path, key=allowed).status_code == 200
    assert inbox.download(mine, 0).content == b"secret"


def mint(inbox: Inbox, **body: Any) -> str:
    answer = httpx.post(
        f"{inbox.server.base_url}/v1/inboxes/{inbox.id}/keys",
        headers=bearer(inbox.account["account_key"]),
        json=body,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def test_mail_stored_before_ranges_still_lists_and_downloads(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    parts: list[dict[str, Any]] = [
        {"data": BIG, "more": {"filename": "big.bin"}},
        {"data": TEXT, "cte": "quoted-printable", "more": {"filename": "../n.txt"}},
    ]
    message_id = inbox.receive(mail(inbox.address, parts))

    async def as_before() -> None:  # the JSON an ingest wrote before this change
        engine = create_async_engine(live_server.database_url)
        async with engine.begin() as conn:
            stored = await conn.scalar(
                sa.select(t.messages.c.attachments).where(t.messages.c.id == message_id)
            )
            assert stored is not None
            old = [{k: a[k] for k in ("filename", "content_type", "size_bytes")} for a in stored]
            await conn.execute(
                t.messages.update().where(t.messages.c.id == message_id).values(attachments=old)
            )
        await engine.dispose()

    asyncio.run(as_before())
    listed = inbox.listed(message_id)
    assert [(a["filename"], a["content_id"]) for a in listed] == [
        ("big.bin", None),
        ("n.txt", None),
    ]
    assert inbox.download(message_id, 0).content == BIG
    assert inbox.download(message_id, 1).content == TEXT.replace("\n", "\r\n").encode()
    assert inbox.download(message_id, 2).status_code == 404


def test_an_attached_message_downloads(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    inner = EmailMessage()
    inner["From"] = "x@acme.test"
    inner["Subject"] = "forwarded"
    inner.set_content("inner body")
    outer = EmailMessage()
    outer["From"] = "bot@acme.test"
    outer["To"] = inbox.address
    outer["Subject"] = "fwd"
    outer.set_content("see the forward")
    outer.add_attachment(inner, filename="fwd.eml")
    message_id = inbox.receive(outer.as_bytes(policy=email.policy.SMTP))
    [attachment] = inbox.listed(message_id)
    assert attachment["content_type"] == "message/rfc822"
    answer = inbox.download(message_id, 0)
    assert answer.status_code == 200
    assert b"Subject: forwarded" in answer.content and b"inner body" in answer.content


def test_mail_without_attachments_lists_none(live_server: LiveServer) -> None:
    inbox = Inbox(live_server)
    message_id = inbox.receive(mail(inbox.address, []))
    assert inbox.listed(message_id) == []
    answer = inbox.download(message_id, 0)
    assert (answer.status_code, error_code(answer)) == (404, "not_found")


def test_the_sdk_lists_streams_and_saves(live_server: LiveServer, tmp_path: Path) -> None:
    inbox = Inbox(live_server)
    parts: list[dict[str, Any]] = [
        {"data": BIG, "more": {"filename": "../big.bin"}},
        {"data": b"tiny", "type": "image/png", "more": {"cid": "<c@x>"}},
    ]
    message_id = inbox.receive(mail(inbox.address, parts))
    # An account key: the SDK mints the inbox key, as for every inbox call.
    with Dispatch(api_key=inbox.account["account_key"], base_url=live_server.base_url) as d:
        listed = d.attachments.list(inbox.id, message_id)
        assert [(a.id, a.filename, a.content_id) for a in listed] == [
            (0, "big.bin", None),
            (1, "attachment-2", "c@x"),
        ]
        assert isinstance(listed[0], MessageAttachment) and listed[0].size_bytes == len(BIG)
        with d.attachments.download(inbox.id, message_id, 0) as stream:
            assert stream.attachment == listed[0]
            chunks = list(stream)
        assert b"".join(chunks) == BIG and len(chunks) > 1
        saved = d.attachments.save(inbox.id, message_id, 0, tmp_path)
        assert saved == tmp_path / "big.bin" and saved.read_bytes() == BIG
        named = d.attachments.save(inbox.id, message_id, 1, tmp_path / "logo.png")
        assert named.read_bytes() == b"tiny"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin", "logo.png"]
        with pytest.raises(NotFoundError):
            d.attachments.download(inbox.id, message_id, 2)
        with pytest.raises(NotFoundError):
            d.attachments.save(inbox.id, message_id, 2, tmp_path / "none")
        assert not (tmp_path / "none").exists() and not (tmp_path / "none.part").exists()
        for bad in (-1, True, "0", 1.0):
            with pytest.raises(InvalidArgumentError):
                d.attachments.download(inbox.id, message_id, bad)  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            d.attachments.list(inbox.id, "msg_nope")

    async def asynchronously() -> None:
        async with AsyncDispatch(api_key=inbox.key, base_url=live_server.base_url) as d:
            assert await d.attachments.list(inbox.id, message_id) == listed
            async with await d.attachments.download(inbox.id, message_id, 0) as stream:
                received = b"".join([chunk async for chunk in stream])
            assert received == BIG
            saved = await d.attachments.save(inbox.id, message_id, 0, tmp_path / "async.bin")
            assert saved.read_bytes() == BIG
            with pytest.raises(NotFoundError):
                await d.attachments.download(inbox.id, message_id, 5)

    asyncio.run(asynchronously())


@pytest.mark.anyio
async def test_a_download_cut_short_by_the_purge_is_aborted_not_ended() -> None:
    """The message deleted between two ranges: the response breaks (the client sees an
    incomplete transfer), rather than ending as if the content were all there."""
    from types import SimpleNamespace

    from dispatch_server.api import attachments as api
    from dispatch_server.domain.attachments import Attachment

    ranges: list[bytes | None] = [b"QUJD" * (CHUNK_BYTES // 4), None]

    async def run_read(*args: Any) -> bytes | None:
        return ranges.pop(0)

    services: Any = SimpleNamespace(db=SimpleNamespace(run_read=run_read))
    found = Attachment(
        id=0,
        message_id="m",
        filename="a.bin",
        content_type="application/octet-stream",
        size_bytes=CHUNK_BYTES,
        content_id=None,
        encoding="base64",
        start=0,
        length=CHUNK_BYTES * 2,
    )
    received: list[bytes] = []
    with pytest.raises(api.DownloadCut):
        async for chunk in api._chunks(services, "i", found):
            received.append(chunk)
    assert b"".join(received) == b"ABC" * (CHUNK_BYTES // 4)
