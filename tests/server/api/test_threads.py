"""Threads over real HTTP on both databases: received mail and the inbox's replies in one
thread, thread ids on messages and sends, pages latest activity first, who may read them
(inbox keys, restricted keys' senders, account keys, other workspaces), and bad input (ids
and cursors of every odd kind, limits) as 4xx; the SDK's round trip, sync and async."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from dispatch_client import AsyncDispatch, Dispatch, ThreadSummary
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, cursor_token, error_code, signup


class Agent:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        account = signup(server.base_url)
        self.inbox_id: str = account["inbox"]["id"]
        self.address: str = account["inbox"]["address"]
        self.inbox_key: str = account["inbox_key"]
        self.account_key: str = account["account_key"]

    def deliver(
        self,
        *,
        message_id: str,
        subject: str = "Hello",
        sender: str = "Ann <ann@acme.test>",
        extra: str = "",
    ) -> str:
        raw = (
            f"From: {sender}\r\nTo: {self.address}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n{extra}\r\nHello there\r\n"
        ).encode()
        response = httpx.post(
            f"{self.server.base_url}/v1/webhooks/inbound",
            params={"to": self.address},
            content=raw,
            headers={"x-dispatch-inbound-token": INBOUND_TOKEN, "content-type": "message/rfc822"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        delivered: str = response.json()["deliveries"][0]["message_id"]
        return delivered

    def get(self, path: str, key: str | None = None, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.server.base_url}/v1/inboxes/{self.inbox_id}{path}",
            params=params,
            headers=bearer(key or self.inbox_key),
            timeout=30,
        )

    def ok(self, path: str, key: str | None = None, **params: Any) -> dict[str, Any]:
        response = self.get(path, key, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def test_received_mail_and_replies_make_one_thread(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    first = agent.deliver(message_id="<q1@acme.test>", subject="Question")
    reply = httpx.post(
        f"{live_server.base_url}/v1/inboxes/{agent.inbox_id}/messages/{first}/reply",
        json={"text": "Answer"},
        headers=bearer(agent.inbox_key),
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    sent = reply.json()
    message = agent.ok(f"/messages/{first}")
    assert sent["thread_id"] == message["thread_id"] is not None
    # The customer answers the reply: its In-Reply-To is the send's Message-ID.
    agent.deliver(
        message_id="<q2@acme.test>",
        subject="Re: Re: Question",
        extra=f"In-Reply-To: {sent['message_id']}\r\n",
    )
    agent.deliver(message_id="<other@acme.test>", subject="Other", sender="bob@acme.test")
    listed = agent.ok("/threads")
    assert [t["subject"] for t in listed["data"]] == ["Other", "Question"]
    thread = listed["data"][1]
    assert thread["id"] == message["thread_id"]
    assert (thread["message_count"], thread["unread_count"]) == (3, 2)
    assert thread["latest"]["subject"] == "Re: Re: Question"
    assert thread["participants"] == ["ann@acme.test"]
    whole = agent.ok(f"/threads/{thread['id']}")
    assert [(m["direction"], m["id"] == sent["id"]) for m in whole["messages"]] == [
        ("received", False),
        ("sent", True),
        ("received", False),
    ]
    assert whole["messages"][1]["status"] is not None
    summaries = agent.ok("/messages")["data"]
    assert {s["thread_id"] for s in summaries} == {thread["id"], listed["data"][0]["id"]}
    assert agent.ok(f"/sent/{sent['id']}")["thread_id"] == thread["id"]


def test_threads_page_latest_activity_first(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    for i in range(5):
        agent.deliver(message_id=f"<p{i}@acme.test>", subject=f"Topic {i}")
    agent.deliver(message_id="<p0b@acme.test>", extra="In-Reply-To: <p0@acme.test>\r\n")
    seen: list[str] = []
    cursor = None
    while True:
        page = agent.ok("/threads", limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["data"]) <= 2
        seen += [t["subject"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Topic 0", "Topic 4", "Topic 3", "Topic 2", "Topic 1"]


def test_a_restricted_key_sees_and_counts_only_its_senders(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    agent.deliver(message_id="<r1@acme.test>", subject="Mixed")
    agent.deliver(
        message_id="<r2@evil.test>",
        sender="eve@evil.test",
        extra="In-Reply-To: <r1@acme.test>\r\n",
    )
    agent.deliver(message_id="<r3@evil.test>", subject="Hidden", sender="eve@evil.test")
    minted = httpx.post(
        f"{live_server.base_url}/v1/inboxes/{agent.inbox_id}/keys",
        headers=bearer(agent.account_key),
        json={"allowed_senders": ["*@acme.test"]},
    )
    assert minted.status_code == 201, minted.text
    key = minted.json()["key"]
    everything = agent.ok("/threads")["data"]
    hidden = next(t for t in everything if t["subject"] == "Hidden")
    listed = agent.ok("/threads", key)["data"]
    assert [(t["subject"], t["message_count"], t["participants"]) for t in listed] == [
        ("Mixed", 1, ["ann@acme.test"])
    ]
    assert agent.ok(f"/threads/{listed[0]['id']}", key)["message_count"] == 1
    response = agent.get(f"/threads/{hidden['id']}", key)
    assert (response.status_code, error_code(response)) == (404, "not_found")
    no_read = httpx.post(
        f"{live_server.base_url}/v1/inboxes/{agent.inbox_id}/keys",
        headers=bearer(agent.account_key),
        json={"permissions": ["send"]},
    ).json()["key"]
    response = agent.get("/threads", no_read)
    assert (response.status_code, error_code(response)) == (403, "missing_permission")


def test_other_workspaces_and_account_keys(live_server: LiveServer) -> None:
    mine, theirs = Agent(live_server), Agent(live_server)
    theirs.deliver(message_id="<t@acme.test>")
    their_thread = theirs.ok("/threads")["data"][0]["id"]
    # Their thread through my inbox, their inbox with my key: 404 alike.
    response = mine.get(f"/threads/{their_thread}")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{theirs.inbox_id}/threads",
        headers=bearer(mine.inbox_key),
    )
    assert (response.status_code, error_code(response)) == (404, "not_found")
    # An account key: 403 with a hint for its own inbox (as for messages), 404 for theirs.
    response = mine.get("/threads", mine.account_key)
    assert (response.status_code, error_code(response)) == (403, "forbidden")
    response = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{theirs.inbox_id}/threads/{their_thread}",
        headers=bearer(mine.account_key),
    )
    assert (response.status_code, error_code(response)) == (404, "not_found")


@pytest.mark.parametrize(
    "thread_id",
    ["x", "x" * 5000, "ü", "%E2%80%AE", "..%2F..", "00000000-0000-0000-0000-000000000000", " "],
)
def test_odd_thread_ids_are_404(live_server: LiveServer, thread_id: str) -> None:
    agent = Agent(live_server)
    response = agent.get(f"/threads/{thread_id}")
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_nul_in_a_thread_id_is_400(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    response = agent.get("/threads/a%00b")
    assert (response.status_code, error_code(response)) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "9" * 400}, "limit"),
        ({"cursor": "nope"}, "cursor"),
        ({"cursor": "ü" * 100}, "cursor"),
        ({"cursor": cursor_token(["message", "2026-01-01T00:00:00+00:00", ""])}, "cursor"),
        ({"cursor": cursor_token(["thread", "not a time", ""])}, "cursor"),
        ({"cursor": cursor_token(["thread", "2026-01-01T00:00:00+00:00", "a'b"])}, "cursor"),
        ({"cursor": "x" * 100_00}, "cursor"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(
    live_server: LiveServer, params: dict[str, Any], param: str
) -> None:
    agent = Agent(live_server)
    response = agent.get("/threads", **params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_a_threads_cursor_resumes_after_a_good_position(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    agent.deliver(message_id="<c@acme.test>")
    token = cursor_token(["thread", "2100-01-01T00:00:00+00:00", ""])
    assert len(agent.ok("/threads", cursor=token)["data"]) == 1
    token = cursor_token(["thread", "2000-01-01T00:00:00+00:00", ""])
    assert agent.ok("/threads", cursor=quote(token, safe=""))["data"] == []


def test_the_sdk_lists_and_gets_threads_sync_and_async(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    for i in range(3):
        agent.deliver(message_id=f"<s{i}@acme.test>", subject=f"SDK {i}")
    with Dispatch(api_key=agent.inbox_key, base_url=live_server.base_url) as d:
        page = d.threads.list(agent.inbox_id, limit=2)
        every = list(page)
        assert [t.subject for t in every] == ["SDK 2", "SDK 1", "SDK 0"]
        assert isinstance(every[0], ThreadSummary)
        thread = d.threads.get(agent.inbox_id, every[0].id)
        assert [m.direction for m in thread.messages] == ["received"]
        assert thread.messages[0].id == d.messages.list(agent.inbox_id).data[0].id

    async def run() -> list[str]:
        async with AsyncDispatch(api_key=agent.inbox_key, base_url=live_server.base_url) as d:
            found = [t.id async for t in d.threads.list(agent.inbox_id, limit=1)]
            thread = await d.threads.get(agent.inbox_id, found[-1])
            assert thread.subject == "SDK 0" and thread.unread_count == 1
            return found

    assert asyncio.run(run()) == [t.id for t in every]
