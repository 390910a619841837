"""`d.events.watch()` against recorded answers: the SSE parser, the typed events, the
reconnect policy (what is retried, how soon, from where), keys, and closing. The live
kill-and-restart test is tests/server/events/test_watch_restart.py."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from dispatch_client import (
    APIConnectionError,
    AuthenticationError,
    EventsExpiredError,
    InboxCreated,
    InternalServerError,
    InvalidArgumentError,
    MessageReceived,
    MessageStatusChanged,
)
from dispatch_client._sse import Frame, SseParser
from dispatch_client._watch import FIRST_DELAY, MAX_DELAY, backoff
from tests.sdk.helpers import (
    ACCOUNT,
    CREATED_KEY,
    INBOX_ID,
    MINTED,
    NOW,
    Recorder,
    async_client,
    error,
    raising,
    sync_client,
)

RECEIVED = {
    "inbox_id": INBOX_ID,
    "message_id": "m1",
    "from": "a@acme.test",
    "to": ["bot@dispatch.test"],
    "subject": "Your code",
    "folder": "inbox",
    "received_at": NOW,
    "otp": {"code": "482913", "kind": "digits"},
    "link": "https://acme.test/v?t=1",
}


def event(seq: int, type: str = "message.received", data: dict[str, Any] | None = None) -> bytes:
    body = {
        "id": seq,
        "type": type,
        "created_at": NOW,
        "inbox_id": INBOX_ID,
        "data": RECEIVED if data is None else data,
    }
    return f"id: {seq}\nevent: {type}\ndata: {json.dumps(body)}\n\n".encode()


def stream(
    *chunks: bytes, opening: int | None = None, asynchronous: bool = False
) -> httpx.Response:
    head = b"retry: 1000\n" + (b"" if opening is None else f"id: {opening}\n".encode())
    parts = [head + b": hi\n\n", *chunks]

    async def parts_async() -> Any:
        for part in parts:
            yield part

    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=parts_async() if asynchronous else iter(parts),
    )


# --- the parser ----------------------------------------------------------------------


def test_the_parser_follows_the_standard() -> None:
    parser = SseParser()
    frames: list[Frame] = []
    text = (
        "\ufeffretry: 2500\r\n: a comment\r\nid: 7\r\nevent: x\r\ndata: one\r\ndata:two\r\n\r\n"
        "data: no id line\n\nid\ndata: cleared\n\nretry: soon\nid: 9\n\nbogus: field\n\n"
    ).encode()
    for index in range(len(text)):  # byte by byte: CRLF and UTF-8 split across chunks
        frames += parser.feed(text[index : index + 1])
    assert frames == [
        Frame(event="x", data="one\ntwo", id="7"),
        Frame(event="message", data="no id line", id="7"),
        Frame(event="message", data="cleared", id=""),
    ]
    assert parser.retry_ms == 2500  # "soon" is ignored
    assert parser.committed_id == "9"  # an id-only frame moves the position


def test_a_frame_cut_short_does_not_move_the_position() -> None:
    parser = SseParser()
    parser.feed(b"id: 3\ndata: x\n\nid: 4\ndata: half")
    assert (parser.last_id, parser.committed_id) == ("4", "3")


def test_backoff_doubles_from_the_first_delay_to_the_cap_and_honours_retry() -> None:
    assert [backoff(n, None, 0.0) for n in (1, 2, 3)] == [FIRST_DELAY, 0.4, 0.8]
    assert backoff(30, None, 0.0) == MAX_DELAY == backoff(30, None, 0.99)
    assert backoff(1, 1.0, 0.0) == 1.0  # the server's retry: is a floor
    assert backoff(1, 1.0, 0.99) == pytest.approx(1.495)  # jitter on top
    delays = {round(backoff(2, None, random.random()), 3) for _ in range(50)}
    assert len(delays) > 10 and min(delays) >= 0.4 and max(delays) <= 0.6


# --- watching ------------------------------------------------------------------------


def test_events_are_typed_and_unknown_types_still_arrive() -> None:
    sent = {
        "inbox_id": INBOX_ID,
        "sent_id": "s1",
        "recipients": ["x@y.test"],
        "status": "bounced",
        "detail": {"type": "Permanent"},
    }
    recorder = Recorder(
        stream(
            event(1),
            event(2, "message.bounced", sent),
            event(3, "inbox.created", {"inbox_id": INBOX_ID, "address": "a@d.test"}),
            event(4, "mailbox.sparkled", {"anything": [1]}),
        )
    )
    with sync_client(recorder).events.watch(max_reconnects=0) as events:
        got = [next(events) for _ in range(4)]
    received = got[0].payload
    assert isinstance(received, MessageReceived)
    assert received.otp is not None and received.otp.code == "482913"
    assert (received.from_, received.to, received.link) == (
        "a@acme.test",
        ("bot@dispatch.test",),
        "https://acme.test/v?t=1",
    )
    assert isinstance(got[1].payload, MessageStatusChanged) and got[1].payload.status == "bounced"
    assert isinstance(got[2].payload, InboxCreated) and got[2].payload.display_name is None
    assert got[3].payload is None and got[3].data == {"anything": [1]}
    assert [e.id for e in got] == [1, 2, 3, 4]
    request = recorder.requests[0]
    assert request.url.path == "/v1/events" and "last-event-id" not in request.headers
    assert request.headers["accept"] == "text/event-stream"


def test_a_payload_of_the_wrong_shape_is_an_error() -> None:
    bad = event(1, "inbox.created", {"inbox_id": INBOX_ID, "address": 5})
    with pytest.raises(Exception, match="unexpected response"):
        next(iter(sync_client(Recorder(stream(bad))).events.watch()))


def test_it_reconnects_after_breaks_and_5xx_resuming_after_the_last_event() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        def chunks() -> Any:
            yield event(2)
            raise httpx.ReadError("reset", request=request)

        return httpx.Response(200, content=chunks())

    recorder = Recorder(
        stream(event(1), opening=0),  # ends: the server restarting
        raising(httpx.ConnectError),  # refused while it is down
        error(503, "unavailable"),
        broken,
        stream(event(2), event(3)),  # a server replaying 2 again: dropped
    )
    client = sync_client(recorder)
    sleeps: list[float] = []
    client._driver.sleep = sleeps.append
    events = client.events.watch()
    assert [next(events).id for _ in range(3)] == [1, 2, 3]
    events.close()
    assert [r.headers.get("last-event-id") for r in recorder.requests] == [
        None,
        "1",
        "1",
        "1",
        "2",
    ]
    assert len(sleeps) == 4 and all(1.0 <= s <= MAX_DELAY for s in sleeps)  # retry: 1000
    assert sleeps[2] >= 1.0 and events.last_id == 3


def test_the_opening_position_is_kept_before_any_event() -> None:
    recorder = Recorder(stream(opening=41), stream(event(42)))
    events = sync_client(recorder).events.watch(types=["message.received", "inbox.created"])
    assert next(events).id == 42
    assert recorder.requests[1].headers["last-event-id"] == "41"
    assert recorder.requests[0].url.params["types"] == "message.received,inbox.created"


def test_refusals_are_raised_not_retried() -> None:
    recorder = Recorder(error(410, "events_expired"))
    with pytest.raises(EventsExpiredError, match="events_expired"):
        next(iter(sync_client(recorder).events.watch(after=3)))
    assert recorder.requests[0].headers["last-event-id"] == "3"
    with pytest.raises(AuthenticationError):
        next(iter(sync_client(Recorder(error(401, "unauthorized"))).events.watch()))
    with pytest.raises(InvalidArgumentError):
        sync_client(Recorder()).events.watch(after=-1)


def test_max_reconnects_gives_up_with_the_last_failure() -> None:
    recorder = Recorder(*[error(500, "internal")] * 3)
    with pytest.raises(InternalServerError):
        next(iter(sync_client(recorder).events.watch(max_reconnects=2)))
    assert len(recorder.requests) == 3
    with pytest.raises(APIConnectionError):
        next(iter(sync_client(Recorder(stream(), stream())).events.watch(max_reconnects=1)))


def test_an_inbox_stream_mints_an_inbox_key_once() -> None:
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json=CREATED_KEY),
        stream(event(5)),
        stream(event(6)),
    )
    client = sync_client(recorder)
    assert next(iter(client.events.watch(INBOX_ID))).id == 5
    assert next(iter(client.events.watch(INBOX_ID))).id == 6
    assert recorder.paths == [
        f"/v1/inboxes/{INBOX_ID}/events",
        f"/v1/inboxes/{INBOX_ID}/keys",
        f"/v1/inboxes/{INBOX_ID}/events",
        f"/v1/inboxes/{INBOX_ID}/events",
    ]
    assert [recorder.auth(i) for i in range(4)] == [ACCOUNT, ACCOUNT, MINTED, MINTED]


def test_closing_closes_the_connection() -> None:
    closed: list[bool] = []

    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield b"retry: 1000\n\n" + event(1)
            yield event(2)

        def close(self) -> None:
            closed.append(True)

    client = sync_client(Recorder(httpx.Response(200, stream=Body())))
    for found in client.events.watch():
        assert found.id == 1
        break
    assert closed == [True]


@pytest.mark.anyio
async def test_the_async_watch_reconnects_and_closes() -> None:
    recorder = Recorder(
        stream(event(1), asynchronous=True),
        raising(httpx.ConnectError),
        stream(event(2), asynchronous=True),
    )
    client = async_client(recorder)
    async with client.events.watch() as events:
        got = [e.id async for e in _take(events, 2)]
    assert got == [1, 2]
    assert recorder.requests[2].headers["last-event-id"] == "1"


async def _take(events: Any, count: int) -> Any:
    async for found in events:
        yield found
        count -= 1
        if count == 0:
            return
