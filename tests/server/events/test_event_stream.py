"""The event log and its streams: what each change writes, the SSE frames, resuming with
Last-Event-ID or `after` exactly once, filters, scope, and the expired resume point. Both
databases."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.events import log as event_log
from tests.conftest import (
    INBOUND_TOKEN,
    LiveServer,
    _ServerThread,
    fresh_database_url,
    make_settings,
)
from tests.helpers import bearer, error_code, signup


class Stream:
    """An SSE stream read on a thread: its frames arrive on `frames`."""

    def __init__(self, url: str, headers: dict[str, str], **params: Any) -> None:
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.positions: queue.Queue[int] = queue.Queue()  # `id:` lines without data
        self.opened = threading.Event()
        self.client = httpx.Client(timeout=httpx.Timeout(30, read=60))
        self.url, self.headers, self.params = url, headers, params
        self.status: int | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _read(self) -> None:
        try:
            self._read_frames()
        except httpx.HTTPError:  # closed by the test
            self.opened.set()

    def _read_frames(self) -> None:
        with self.client.stream("GET", self.url, headers=self.headers, params=self.params) as r:
            self.status = r.status_code
            self.opened.set()
            fields: dict[str, str] = {}
            for line in r.iter_lines():
                if line == "":
                    if "data" in fields:
                        self.frames.put({**fields, "json": json.loads(fields["data"])})
                    elif "id" in fields:
                        self.positions.put(int(fields["id"]))
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value

    def next(self, timeout: float = 10) -> dict[str, Any]:
        return self.frames.get(timeout=timeout)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def streams() -> Iterator[list[Stream]]:
    opened: list[Stream] = []
    yield opened
    for stream in opened:
        stream.close()


def deliver(server: LiveServer, to: str, **body: object) -> str:
    response = httpx.post(
        f"{server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
        json={"to": to, "text": "hello", **body},
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["deliveries"][0]["message_id"]
    return message_id


def test_received_mail_streams_live_with_its_code_and_link(
    live_server: LiveServer, streams: list[Stream]
) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    stream = Stream(f"{live_server.base_url}/v1/events", bearer(account["account_key"]))
    streams.append(stream)
    message_id = deliver(
        live_server,
        inbox["address"],
        subject="Your code",
        text="Your verification code is 482913. Or click https://acme.test/verify?t=Zk3Qw9",
    )
    frame = stream.next()
    assert frame["event"] == "message.received"
    event = frame["json"]
    assert int(frame["id"]) == event["id"] and event["type"] == "message.received"
    assert event["inbox_id"] == inbox["id"]
    data = event["data"]
    assert (data["message_id"], data["subject"], data["folder"]) == (
        message_id,
        "Your code",
        "inbox",
    )
    assert data["otp"] == {"code": "482913", "kind": "digits"}
    assert data["link"] == "https://acme.test/verify?t=Zk3Qw9"


def test_resuming_replays_what_was_missed_once_then_goes_on_live(
    live_server: LiveServer, streams: list[Stream]
) -> None:
    account = signup(live_server.base_url)
    headers = bearer(account["account_key"])
    url = f"{live_server.base_url}/v1/events"
    first = Stream(url, headers, after=0)
    streams.append(first)
    created = first.next()  # the signup's inbox
    assert created["event"] == "inbox.created"
    deliver(live_server, account["inbox"]["address"], subject="one")
    one = first.next()
    first.close()
    # Missed while away:
    for subject in ("two", "three"):
        deliver(live_server, account["inbox"]["address"], subject=subject)
    resumed = Stream(url, {**headers, "last-event-id": one["id"]})
    streams.append(resumed)
    subjects = [resumed.next()["json"]["data"]["subject"] for _ in range(2)]
    assert subjects == ["two", "three"]
    deliver(live_server, account["inbox"]["address"], subject="four")
    live = resumed.next()
    assert live["json"]["data"]["subject"] == "four"
    assert int(live["id"]) > int(one["id"])
    with pytest.raises(queue.Empty):
        resumed.next(timeout=0.5)  # nothing twice


def test_filters_and_the_inbox_stream(live_server: LiveServer, streams: list[Stream]) -> None:
    account = signup(live_server.base_url)
    base = live_server.base_url
    account_headers = bearer(account["account_key"])
    second = httpx.post(f"{base}/v1/inboxes", json={}, headers=account_headers).json()
    inbox_stream = Stream(
        f"{base}/v1/inboxes/{account['inbox']['id']}/events", bearer(account["inbox_key"]), after=0
    )
    typed = Stream(f"{base}/v1/events", account_headers, after=0, types="inbox.created")
    streams.extend([inbox_stream, typed])
    deliver(live_server, second["address"], subject="for the second")
    deliver(live_server, account["inbox"]["address"], subject="for the first")
    assert inbox_stream.next()["event"] == "inbox.created"
    assert inbox_stream.next()["json"]["data"]["subject"] == "for the first"
    assert [typed.next()["json"]["inbox_id"] for _ in range(2)] == [
        account["inbox"]["id"],
        second["id"],
    ]
    with pytest.raises(queue.Empty):
        typed.next(timeout=0.5)


@pytest.mark.parametrize(
    ("params", "headers", "param"),
    [
        ({"types": "message.exploded"}, {}, "types"),
        ({"after": "-5"}, {}, "after"),
        ({"after": "x"}, {}, "after"),
        ({}, {"last-event-id": "twelve"}, "Last-Event-ID"),
    ],
)
def test_bad_stream_requests_are_400_naming_the_field(
    live_server: LiveServer, params: dict[str, str], headers: dict[str, str], param: str
) -> None:
    account = signup(live_server.base_url)
    answer = httpx.get(
        f"{live_server.base_url}/v1/events",
        params=params,
        headers={**bearer(account["account_key"]), **headers},
    )
    assert (answer.status_code, error_code(answer), answer.json()["error"]["param"]) == (
        400,
        "invalid_request",
        param,
    )


def test_streams_keep_to_their_scope(live_server: LiveServer) -> None:
    base = live_server.base_url
    account = signup(base)
    other = signup(base)
    inbox_key = bearer(account["inbox_key"])
    assert httpx.get(f"{base}/v1/events", headers=inbox_key).status_code == 403
    foreign = httpx.get(f"{base}/v1/inboxes/{other['inbox']['id']}/events", headers=inbox_key)
    assert foreign.status_code == 404
    assert httpx.get(f"{base}/v1/events").status_code == 401


@pytest.fixture
def two_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one PostgreSQL database, each with its own hub, pool and LISTEN
    connection, as two API processes have."""
    urls = fresh_database_url("postgresql", tmp_path_factory, request)
    url = next(urls)
    first, second = _ServerThread(make_settings(url)), _ServerThread(make_settings(url))
    try:
        yield first.start(), second.start()
    finally:
        first.stop()
        second.stop()
        next(urls, None)


def test_an_event_committed_by_one_process_reaches_streams_of_another(
    two_servers: tuple[LiveServer, LiveServer], streams: list[Stream]
) -> None:
    writer, reader = two_servers
    account = signup(writer.base_url)
    stream = Stream(f"{reader.base_url}/v1/events", bearer(account["account_key"]))
    streams.append(stream)
    deliver(writer, account["inbox"]["address"], subject="across")
    frame = stream.next(timeout=5)  # well under the heartbeat's recheck: NOTIFY woke it
    assert frame["json"]["data"]["subject"] == "across"


def test_a_key_revoked_while_streaming_sees_no_more(
    live_server: LiveServer, streams: list[Stream]
) -> None:
    base = live_server.base_url
    account = signup(base)
    inbox = account["inbox"]
    minted = httpx.post(
        f"{base}/v1/inboxes/{inbox['id']}/keys", json={}, headers=bearer(account["account_key"])
    ).json()
    stream = Stream(f"{base}/v1/inboxes/{inbox['id']}/events", bearer(minted["key"]))
    streams.append(stream)
    deliver(live_server, inbox["address"], subject="before")
    assert stream.next()["json"]["data"]["subject"] == "before"
    revoked = httpx.delete(
        f"{base}/v1/inboxes/{inbox['id']}/keys/{minted['id']}",
        headers=bearer(account["account_key"]),
    )
    assert revoked.status_code in (200, 204)
    deliver(live_server, inbox["address"], subject="after: your code is 123456")
    with pytest.raises(queue.Empty):
        stream.next(timeout=2)


def test_resume_points_that_are_no_position_are_refused(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    url, headers = f"{live_server.base_url}/v1/events", bearer(account["account_key"])
    for header in ("999999", "1\u00b9", "\u00b2"):
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        answer = httpx.get(url, headers=[*raw, (b"last-event-id", header.encode())])
        assert (answer.status_code, error_code(answer)) == (400, "invalid_request"), header
        assert answer.json()["error"]["param"] == "Last-Event-ID"
    beyond = httpx.get(url, headers=headers, params={"after": "5000"})
    assert (beyond.status_code, beyond.json()["error"]["param"]) == (400, "after")


def test_a_filtered_stream_moves_past_what_it_skips_and_a_purged_point_is_410(
    live_server: LiveServer, streams: list[Stream]
) -> None:
    base = live_server.base_url
    account = signup(base)
    headers = bearer(account["account_key"])
    url = f"{base}/v1/events"
    typed = Stream(url, headers, after=0, types="message.bounced")
    streams.append(typed)
    assert typed.positions.get(timeout=10) == 0  # the opening frame
    assert typed.positions.get(timeout=10) == 1  # past the signup's inbox.created
    deliver(live_server, account["inbox"]["address"], subject="not a bounce")
    # Moved past the mail too, though it sent no event: resuming from there skips nothing
    # it wants, and a purge of what it skipped does not expire it.
    assert typed.positions.get(timeout=10) == 2
    with pytest.raises(queue.Empty):
        typed.next(timeout=0.5)

    async def purge_all() -> int:
        db = Database(live_server.database_url)
        try:
            return await db.run_write(event_log.purge, older_than=utcnow() + timedelta(days=1))
        finally:
            await db.dispose()

    # Purges every workspace's events: this test stays last in the module.
    assert asyncio.run(purge_all()) >= 2
    expired = httpx.get(url, headers=headers, params={"after": "1"})
    assert (expired.status_code, error_code(expired)) == (410, "events_expired")
    assert expired.json()["error"]["param"] == "after"
