"""Sending, sent mail, suppressions and memory: the requests each call makes (bodies,
attachments in base64, keys, Idempotency-Key), the models they decode, and the errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatch_client import (
    DispatchError,
    IdempotencyConflictError,
    InvalidArgumentError,
    MemoryEntry,
    MemoryKey,
    NotFoundError,
    OutgoingAttachment,
    QuotaExceededError,
    RecipientSuppressedError,
    SentMessage,
    Suppression,
)
from dispatch_client.types._decode import decode
from tests.sdk.helpers import (
    ACCOUNT,
    CREATED_KEY,
    INBOX_ID,
    KEYS,
    MINTED,
    NOW,
    Recorder,
    async_client,
    error,
    page,
    raising,
    sync_client,
)

SENT = f"/v1/inboxes/{INBOX_ID}/sent"
MEMORY = f"/v1/inboxes/{INBOX_ID}/memory"


def sent(number: int = 1, **changes: Any) -> dict[str, Any]:
    """A sent message as the server gives it."""
    answer = {
        "id": f"s{number}",
        "inbox_id": INBOX_ID,
        "from": "bot@dispatch.test",
        "to": ["a@acme.test"],
        "cc": [],
        "bcc": [],
        "reply_to": [],
        "subject": "Hello",
        "text": "hi",
        "html": None,
        "headers": {"X-Campaign": "7"},
        "attachments": [{"filename": "notes.txt", "content_type": "text/plain", "size_bytes": 5}],
        "message_id": "<s1@dispatch.test>",
        "in_reply_to": None,
        "status": "delivered",
        "provider": "local",
        "provider_message_id": None,
        "attempts": 1,
        "next_attempt_at": None,
        "last_error": None,
        "created_at": NOW,
        "updated_at": NOW,
        "sent_at": NOW,
        "events": [
            {
                "type": "queued",
                "source": "dispatch",
                "recipients": ["a@acme.test"],
                "detail": {},
                "occurred_at": NOW,
            },
            {
                "type": "delivered",
                "source": "dispatch",
                "recipients": ["a@acme.test"],
                "detail": {"provider": "local"},
                "occurred_at": NOW,
            },
        ],
        "some_future_field": 1,
    }
    return {**answer, **changes}


def entry(value: str = "v1") -> dict[str, Any]:
    return {"key": "plan", "value": value, "written_at": NOW, "sent_id": "s1"}


SUPPRESSION = {
    "address": "gone@acme.test",
    "reason": "bounce",
    "detail": "550 5.1.1 no such user",
    "outbound_message_id": "s1",
    "created_at": NOW,
    "updated_at": NOW,
}


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


# --- sending -----------------------------------------------------------------------------


def test_send_request_and_decoding() -> None:
    recorder = Recorder(httpx.Response(201, json=sent()))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    result = client.messages.send(
        INBOX_ID,
        to="a@acme.test",
        subject="Hello",
        text="hi",
        html="<p>hi</p>",
        cc=["Carol <c@acme.test>", "d@acme.test"],
        bcc="e@acme.test",
        reply_to="replies@dispatch.test",
        headers={"X-Campaign": "7"},
        attachments=[
            OutgoingAttachment("report.pdf", b"%PDF-1.7", "application/pdf"),
            ("notes.txt", b"notes"),
        ],
        in_reply_to="m9",
    )
    [request] = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/v1/send")
    assert recorder.auth(0) == MINTED  # the inbox key the client holds
    assert request.headers["idempotency-key"]
    assert body_of(request) == {
        "inbox_id": INBOX_ID,
        "to": ["a@acme.test"],
        "cc": ["Carol <c@acme.test>", "d@acme.test"],
        "bcc": ["e@acme.test"],
        "reply_to": ["replies@dispatch.test"],
        "subject": "Hello",
        "text": "hi",
        "html": "<p>hi</p>",
        "headers": {"X-Campaign": "7"},
        "attachments": [
            {
                "filename": "report.pdf",
                "content": base64.b64encode(b"%PDF-1.7").decode(),
                "content_type": "application/pdf",
            },
            {"filename": "notes.txt", "content": "bm90ZXM=", "content_type": "text/plain"},
        ],
        "in_reply_to": "m9",
    }
    assert isinstance(result, SentMessage)
    assert (result.id, result.from_, result.status) == ("s1", "bot@dispatch.test", "delivered")
    assert result.to == ("a@acme.test",) and result.cc == ()
    assert result.headers == {"X-Campaign": "7"}
    assert [(a.filename, a.size_bytes) for a in result.attachments] == [("notes.txt", 5)]
    assert [e.type for e in result.events] == ["queued", "delivered"]
    assert result.events[1].detail == {"provider": "local"}
    assert result.sent_at is not None and result.sent_at.tzinfo is not None
    hash(result)  # a model stays hashable, dict fields and all


def test_a_minimal_send_sends_only_what_is_given() -> None:
    recorder = Recorder(httpx.Response(201, json=sent()))
    sync_client(recorder).messages.send(INBOX_ID, to=("a@acme.test",), text="hi")
    assert body_of(recorder.requests[0]) == {
        "inbox_id": INBOX_ID,
        "to": ["a@acme.test"],
        "text": "hi",
    }
    # An account key is accepted by POST /v1/send (the body names the inbox): no mint.
    assert recorder.auth(0) == ACCOUNT and recorder.paths == ["/v1/send"]


def test_a_send_is_retried_with_its_idempotency_key() -> None:
    recorder = Recorder(
        raising(httpx.ReadTimeout),
        raising(httpx.RemoteProtocolError),
        error(409, "idempotency_key_in_use"),
        httpx.Response(201, json=sent(), headers={"Idempotent-Replayed": "true"}),
    )
    client = sync_client(recorder, max_retries=3)
    assert client.messages.send(INBOX_ID, to="a@acme.test", text="hi").id == "s1"
    assert len(recorder.requests) == 4
    assert len({r.headers["idempotency-key"] for r in recorder.requests}) == 1
    given = Recorder(httpx.Response(201, json=sent()))
    sync_client(given).messages.send(INBOX_ID, to="a@b.test", text="x", idempotency_key="k-1")
    assert given.requests[0].headers["idempotency-key"] == "k-1"


def test_each_send_has_its_own_idempotency_key() -> None:
    recorder = Recorder(httpx.Response(201, json=sent()), httpx.Response(201, json=sent(2)))
    client = sync_client(recorder)
    client.messages.send(INBOX_ID, to="a@acme.test", text="hi")
    client.messages.send(INBOX_ID, to="a@acme.test", text="hi")
    keys = [r.headers["idempotency-key"] for r in recorder.requests]
    assert len(set(keys)) == 2


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"to": 5}, "to"),
        ({"to": b"a@acme.test"}, "to"),
        ({"to": ["a@acme.test", None]}, "to"),
        ({"to": "a@acme.test", "cc": [1]}, "cc"),
        ({"to": "a@acme.test", "headers": {"X-A": 1}}, "headers"),
        ({"to": "a@acme.test", "headers": ["X-A"]}, "headers"),
        ({"to": "a@acme.test", "attachments": ("a.txt", b"x")}, "attachments"),  # not a list
        ({"to": "a@acme.test", "attachments": OutgoingAttachment("a", b"x")}, "attachments"),
        ({"to": "a@acme.test", "attachments": [("a.txt", "text")]}, "attachments"),
        ({"to": "a@acme.test", "attachments": [("a.txt", b"x", "text/plain")]}, "attachments"),
        ({"to": "a@acme.test", "attachments": [b"x"]}, "attachments"),
        ({"to": "a@acme.test", "attachments": [OutgoingAttachment("a", "x")]}, "attachments"),  # type: ignore[arg-type]
    ],
)
def test_bad_send_arguments_are_refused_before_sending(
    arguments: dict[str, Any], param: str
) -> None:
    recorder = Recorder()
    with pytest.raises(InvalidArgumentError) as caught:
        sync_client(recorder).messages.send(INBOX_ID, text="hi", **arguments)
    assert caught.value.param == param
    assert recorder.requests == []


def test_a_blank_inbox_id_is_refused() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        sync_client(Recorder()).messages.send(" ", to="a@acme.test", text="hi")
    assert caught.value.param == "inbox_id"


def test_outgoing_attachments() -> None:
    assert OutgoingAttachment("a.png", b"x").content_type == "image/png"
    assert OutgoingAttachment("a.csv", b"x").content_type == "text/csv"
    assert OutgoingAttachment("noext", b"x").content_type == "application/octet-stream"
    assert OutgoingAttachment("a.png", b"x", "image/webp").content_type == "image/webp"
    assert "1234" not in repr(OutgoingAttachment("a.bin", b"1234"))
    assert "<4 bytes>" in repr(OutgoingAttachment("a.bin", b"1234"))


def test_an_attachment_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF")
    assert OutgoingAttachment.from_path(path) == OutgoingAttachment(
        "report.pdf", b"%PDF", "application/pdf"
    )
    assert OutgoingAttachment.from_path(str(path), "application/x-pdf").content_type == (
        "application/x-pdf"
    )


def test_reply_with_an_account_key_mints_an_inbox_key() -> None:
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json=CREATED_KEY),
        httpx.Response(201, json=sent(in_reply_to="m9", subject="Re: Hello")),
    )
    client = sync_client(recorder)
    reply = client.messages.reply(
        INBOX_ID, "m9", text="thanks", reply_all=True, attachments=[("a.txt", b"a")]
    )
    assert (reply.in_reply_to, reply.subject) == ("m9", "Re: Hello")
    path = f"/v1/inboxes/{INBOX_ID}/messages/m9/reply"
    assert recorder.paths == [path, KEYS, path]
    assert [recorder.auth(i) for i in range(3)] == [ACCOUNT, ACCOUNT, MINTED]
    first, _, again = recorder.requests
    assert (
        body_of(first)
        == body_of(again)
        == {
            "text": "thanks",
            "reply_all": True,
            "attachments": [{"filename": "a.txt", "content": "YQ==", "content_type": "text/plain"}],
        }
    )
    assert first.headers["idempotency-key"] == again.headers["idempotency-key"]


def test_send_errors_are_typed() -> None:
    recorder = Recorder(
        error(422, "recipient_suppressed", param="to"),
        error(429, "quota_exceeded", {"retry-after": "3600"}, param="daily_sends"),
        error(409, "idempotency_key_reused", param="Idempotency-Key"),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(RecipientSuppressedError) as suppressed:
        client.messages.send(INBOX_ID, to="gone@acme.test", text="hi")
    assert suppressed.value.param == "to"
    with pytest.raises(QuotaExceededError) as quota:
        client.messages.send(INBOX_ID, to="a@acme.test", text="hi")
    assert (quota.value.quota, quota.value.retry_after) == ("daily_sends", 3600.0)
    with pytest.raises(IdempotencyConflictError) as conflict:
        client.messages.reply(INBOX_ID, "m9", text="hi", idempotency_key="used")
    assert conflict.value.code == "idempotency_key_reused"
    assert len(recorder.requests) == 3  # none of them retried


def test_a_sent_message_of_the_wrong_shape_is_an_error() -> None:
    for wrong in (
        sent(headers=[["X-A", "1"]]),
        sent(headers={"X-A": 1}),
        sent(events=[{**sent()["events"][0], "detail": None}]),
        sent(status=None),
    ):
        with pytest.raises(DispatchError, match="unexpected response"):
            decode(wrong, SentMessage)
    assert decode(sent(status="deferred_forever"), SentMessage).status == "deferred_forever"


# --- sent mail ---------------------------------------------------------------------------


def test_sent_list_and_get() -> None:
    recorder = Recorder(
        page(sent(1), cursor="c1"),
        page(sent(2)),
        httpx.Response(200, json=sent(2)),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    listed = client.sent.list(INBOX_ID, status="delivered", limit=1)
    assert [s.id for s in listed] == ["s1", "s2"]
    assert client.sent.get(INBOX_ID, "s2").id == "s2"
    assert recorder.paths == [SENT, SENT, f"{SENT}/s2"]
    assert [dict(r.url.params) for r in recorder.requests] == [
        {"limit": "1", "status": "delivered"},
        {"limit": "1", "status": "delivered", "cursor": "c1"},
        {},
    ]
    assert "idempotency-key" not in recorder.requests[0].headers


# --- suppressions ------------------------------------------------------------------------


def test_suppressions_list_and_delete_with_the_account_key() -> None:
    recorder = Recorder(page(SUPPRESSION), httpx.Response(200, json=SUPPRESSION))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    [listed] = client.suppressions.list(limit=10)
    assert isinstance(listed, Suppression)
    assert (listed.address, listed.reason, listed.outbound_message_id) == (
        "gone@acme.test",
        "bounce",
        "s1",
    )
    lifted = client.suppressions.delete("Gone@Acme.test")
    assert lifted.address == "gone@acme.test"
    assert [(r.method, r.url.raw_path) for r in recorder.requests] == [
        ("GET", b"/v1/suppressions?limit=10"),
        ("DELETE", b"/v1/suppressions/Gone%40Acme.test"),
    ]
    assert [recorder.auth(i) for i in range(2)] == [ACCOUNT, ACCOUNT]


def test_lifting_what_is_not_suppressed_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        sync_client(Recorder(error(404, "not_found"))).suppressions.delete("a@acme.test")
    with pytest.raises(InvalidArgumentError):
        sync_client(Recorder()).suppressions.delete("..")


# --- memory ------------------------------------------------------------------------------


def test_memory_write_read_history_and_keys() -> None:
    recorder = Recorder(
        httpx.Response(201, json=entry("v2")),
        httpx.Response(200, json=entry("v2")),
        page(entry("v2"), entry("v1")),
        httpx.Response(200, json={"data": [{"key": "plan", "updated_at": NOW}]}),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    written = client.memory.write(INBOX_ID, "plan", "v2")
    assert isinstance(written, MemoryEntry) and written.sent_id == "s1"
    assert client.memory.read(INBOX_ID, "plan") == written
    assert [e.value for e in client.memory.history(INBOX_ID, "plan", limit=5)] == ["v2", "v1"]
    keys = client.memory.keys(INBOX_ID)
    assert isinstance(keys, list) and keys == [MemoryKey(key="plan", updated_at=written.written_at)]
    write, read, history, listing = recorder.requests
    assert (write.method, write.url.path) == ("POST", MEMORY)
    assert body_of(write) == {"key": "plan", "value": "v2"}
    assert write.headers["idempotency-key"]
    assert (read.url.path, dict(read.url.params)) == (MEMORY, {"key": "plan"})
    assert (history.url.path, dict(history.url.params)) == (
        f"{MEMORY}/history",
        {"key": "plan", "limit": "5"},
    )
    assert listing.url.path == f"{MEMORY}/keys"


def test_reading_a_key_without_a_value_is_none() -> None:
    recorder = Recorder(error(404, "not_found"), error(400, "invalid_request", param="key"))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.memory.read(INBOX_ID, "never written") is None
    with pytest.raises(DispatchError):
        client.memory.read(INBOX_ID, "x")


def test_a_memory_write_is_retried_with_its_idempotency_key() -> None:
    recorder = Recorder(raising(httpx.ReadTimeout), httpx.Response(201, json=entry()))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.memory.write(INBOX_ID, "plan", "v1").value == "v1"
    assert len({r.headers["idempotency-key"] for r in recorder.requests}) == 1


@pytest.mark.parametrize(("key", "value"), [("", "v"), ("  ", "v"), ("k", 5), (5, "v")])
def test_bad_memory_arguments_are_refused_before_sending(key: Any, value: Any) -> None:
    recorder = Recorder()
    with pytest.raises(InvalidArgumentError):
        sync_client(recorder).memory.write(INBOX_ID, key, value)
    if isinstance(value, str):
        with pytest.raises(InvalidArgumentError):
            sync_client(recorder).memory.read(INBOX_ID, key)
    assert recorder.requests == []


# --- async -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_async_client_sends_alike() -> None:
    recorder = Recorder(
        httpx.Response(201, json=sent()),
        httpx.Response(201, json=sent(2, in_reply_to="m9")),
        page(sent(1), cursor="c1"),
        page(sent(2)),
        httpx.Response(200, json=sent(2)),
        page(SUPPRESSION),
        httpx.Response(200, json=SUPPRESSION),
        httpx.Response(201, json=entry()),
        error(404, "not_found"),
        page(entry()),
        httpx.Response(200, json={"data": []}),
    )
    client = async_client(recorder, inbox_keys={INBOX_ID: MINTED})
    sent_one = await client.messages.send(
        INBOX_ID, to="a@acme.test", text="hi", attachments=[("a.txt", b"a")]
    )
    assert sent_one.status == "delivered"
    assert (await client.messages.reply(INBOX_ID, "m9", text="ok")).in_reply_to == "m9"
    assert [s.id async for s in client.sent.list(INBOX_ID, limit=1)] == ["s1", "s2"]
    assert (await client.sent.get(INBOX_ID, "s2")).id == "s2"
    assert [s.address async for s in client.suppressions.list()] == ["gone@acme.test"]
    assert (await client.suppressions.delete("gone@acme.test")).reason == "bounce"
    assert (await client.memory.write(INBOX_ID, "plan", "v1")).value == "v1"
    assert await client.memory.read(INBOX_ID, "other") is None
    assert [e.value for e in (await client.memory.history(INBOX_ID, "plan")).data] == ["v1"]
    assert await client.memory.keys(INBOX_ID) == []
    assert recorder.paths == [
        "/v1/send",
        f"/v1/inboxes/{INBOX_ID}/messages/m9/reply",
        SENT,
        SENT,
        f"{SENT}/s2",
        "/v1/suppressions",
        "/v1/suppressions/gone@acme.test",  # decoded by httpx; sent as gone%40acme.test
        MEMORY,
        MEMORY,
        f"{MEMORY}/history",
        f"{MEMORY}/keys",
    ]
    assert body_of(recorder.requests[0])["attachments"][0]["content"] == "YQ=="
    await client.aclose()
