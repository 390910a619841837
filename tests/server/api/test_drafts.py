"""Drafts over real HTTP on both databases: saved incomplete, updated in part with stale
versions refused (409), listed latest updated first, sent through the send path of
`POST /v1/send` (its error codes for an incomplete draft, its send lists, its quota, its
Idempotency-Key) and deleted as the send is queued, so a draft is sent once; who may reach
them (other workspaces, account keys, restricted keys' permissions and senders) and bad
input (odd ids, cursors, caps, wrong types) as 4xx."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dispatch_client import (
    AsyncDispatch,
    BadRequestError,
    ConflictError,
    Dispatch,
    Draft,
    NotFoundError,
    SentMessage,
)
from tests.conftest import (
    BACKENDS,
    INBOUND_TOKEN,
    LiveServer,
    _ServerThread,
    fresh_database_url,
    make_settings,
)
from tests.helpers import bearer, cursor_token, error_code, signup


class Agent:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        account = signup(server.base_url)
        self.inbox_id: str = account["inbox"]["id"]
        self.address: str = account["inbox"]["address"]
        self.inbox_key: str = account["inbox_key"]
        self.account_key: str = account["account_key"]

    @property
    def base(self) -> str:
        return f"{self.server.base_url}/v1/inboxes/{self.inbox_id}/drafts"

    def call(
        self,
        method: str,
        path: str = "",
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return httpx.request(
            method,
            self.base + path,
            headers={**bearer(key or self.inbox_key), **(headers or {})},
            timeout=30,
            **kwargs,
        )

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.call("POST", json=body)
        assert response.status_code == 201, response.text
        draft: dict[str, Any] = response.json()
        return draft

    def deliver(self, sender: str = "Ann <ann@acme.test>") -> str:
        raw = (
            f"From: {sender}\r\nTo: {self.address}\r\nSubject: Question\r\n"
            f"Message-ID: <{self.inbox_id}.{len(sender)}@acme.test>\r\n\r\nHello\r\n"
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

    def mint(self, **body: Any) -> str:
        minted = httpx.post(
            f"{self.server.base_url}/v1/inboxes/{self.inbox_id}/keys",
            headers=bearer(self.account_key),
            json=body,
            timeout=30,
        )
        assert minted.status_code == 201, minted.text
        key: str = minted.json()["key"]
        return key

    def sent(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.server.base_url}/v1/inboxes/{self.inbox_id}/sent",
            headers=bearer(self.inbox_key),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


def test_create_update_list_get_delete(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    empty = agent.create()
    assert (empty["version"], empty["to"], empty["subject"], empty["text"]) == (1, [], "", None)
    second = agent.create(to=["Ann <ann@acme.test>"], subject="Hällo 👋", text="Body")
    listed = agent.call("GET").json()["data"]
    assert [d["id"] for d in listed] == [second["id"], empty["id"]]
    patched = agent.call("PATCH", f"/{empty['id']}", json={"subject": "Now", "cc": ["c@x.test"]})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["version"], body["subject"], body["cc"], body["to"]) == (
        2,
        "Now",
        ["c@x.test"],
        [],
    )
    assert body["updated_at"] > empty["updated_at"] and body["created_at"] == empty["created_at"]
    # The update puts it first; pages of one follow each other.
    page = agent.call("GET", params={"limit": 1}).json()
    assert [d["id"] for d in page["data"]] == [empty["id"]]
    rest = agent.call("GET", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [d["id"] for d in rest["data"]] == [second["id"]] and rest["next_cursor"] is None
    # "" clears a body, null keeps it.
    cleared = agent.call("PATCH", f"/{second['id']}", json={"text": "", "subject": None}).json()
    assert (cleared["text"], cleared["subject"]) == (None, "Hällo 👋")
    assert agent.call("GET", f"/{second['id']}").json() == cleared
    deleted = agent.call("DELETE", f"/{second['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == second["id"]
    gone = agent.call("GET", f"/{second['id']}")
    assert (gone.status_code, error_code(gone)) == (404, "not_found")
    again = agent.call("DELETE", f"/{second['id']}")
    assert (again.status_code, error_code(again)) == (404, "not_found")


def test_a_stale_version_is_409_and_changes_nothing(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    draft = agent.create(subject="v1")
    first = agent.call("PATCH", f"/{draft['id']}", json={"subject": "v2", "version": 1})
    assert first.status_code == 200 and first.json()["version"] == 2
    for version in (1, 3, 0, -1, 2**40):
        stale = agent.call("PATCH", f"/{draft['id']}", json={"subject": "lost", "version": version})
        assert (stale.status_code, error_code(stale)) == (409, "draft_changed")
        assert stale.json()["error"]["param"] == "version"
    assert agent.call("GET", f"/{draft['id']}").json()["subject"] == "v2"


def test_sending_a_draft_sends_it_once(live_server: LiveServer) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    draft = sender.create(to=[receiver.address], subject="From a draft", text="Hi")
    sent = sender.call("POST", f"/{draft['id']}/send")
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["to"], body["subject"], body["text"]) == ([receiver.address], "From a draft", "Hi")
    assert body["status"] in {"delivered", "sent", "queued"}
    assert [s["id"] for s in sender.sent()] == [body["id"]]
    gone = sender.call("GET", f"/{draft['id']}")
    assert (gone.status_code, error_code(gone)) == (404, "not_found")
    twice = sender.call("POST", f"/{draft['id']}/send")
    assert (twice.status_code, error_code(twice)) == (404, "not_found")
    assert len(sender.sent()) == 1


def test_a_retried_send_with_its_idempotency_key_gets_the_first_answer(
    live_server: LiveServer,
) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    draft = sender.create(to=[receiver.address], text="once")
    key = {"Idempotency-Key": "draft-send-1"}
    first = sender.call("POST", f"/{draft['id']}/send", headers=key)
    again = sender.call("POST", f"/{draft['id']}/send", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(sender.sent()) == 1
    other = sender.create(to=[receiver.address], text="other")
    reused = sender.call("POST", f"/{other['id']}/send", headers=key)
    assert (reused.status_code, error_code(reused)) == (409, "idempotency_key_reused")
    assert sender.call("GET", f"/{other['id']}").status_code == 200


@pytest.mark.parametrize(
    ("fields", "status", "code", "param"),
    [
        ({"text": "x"}, 400, "invalid_request", "to"),
        ({"to": ["a@x.test"]}, 400, "invalid_request", "text"),
        ({"to": ["not an address"], "text": "x"}, 400, "invalid_request", "to"),
        ({"to": ["a@x.test"], "cc": ["a@[127.0.0.1]"], "text": "x"}, 400, "invalid_request", "cc"),
        (
            {"to": ["a@x.test"], "text": "x", "headers": {"From": "b@x.test"}},
            400,
            "invalid_request",
            "headers",
        ),
        (
            {"to": ["a@x.test"], "text": "x", "headers": {"X-A": "1", "x-a": "2"}},
            400,
            "invalid_request",
            "headers",
        ),
        (
            {"to": ["a@x.test"], "reply_to": ["bad"], "text": "x"},
            400,
            "invalid_request",
            "reply_to",
        ),
    ],
)
def test_an_incomplete_draft_is_refused_at_send_as_a_send_is(
    live_server: LiveServer, fields: dict[str, Any], status: int, code: str, param: str
) -> None:
    agent = Agent(live_server)
    draft = agent.create(**fields)
    refused = agent.call("POST", f"/{draft['id']}/send")
    assert (refused.status_code, error_code(refused)) == (status, code)
    assert refused.json()["error"]["param"] == param
    # The same fields through POST /v1/send: the same answer.
    direct = httpx.post(
        f"{live_server.base_url}/v1/send", json=fields, headers=bearer(agent.inbox_key), timeout=30
    )
    assert (direct.status_code, error_code(direct), direct.json()["error"]["param"]) == (
        status,
        code,
        param,
    )
    kept = agent.call("GET", f"/{draft['id']}").json()
    assert kept == draft and agent.sent() == []


def test_the_send_lists_refuse_a_draft_and_keep_it(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    blocked = httpx.post(
        f"{live_server.base_url}/v1/lists",
        json={"pattern": "blocked.test", "direction": "send", "action": "block"},
        headers=bearer(agent.account_key),
        timeout=30,
    )
    assert blocked.status_code == 201, blocked.text
    draft = agent.create(to=["ok@fine.test"], bcc=["Eve <E@Blocked.test>"], text="x")
    refused = agent.call("POST", f"/{draft['id']}/send")
    assert (refused.status_code, error_code(refused)) == (422, "recipient_blocked")
    assert refused.json()["error"]["param"] == "bcc"
    assert agent.call("GET", f"/{draft['id']}").status_code == 200 and agent.sent() == []
    fixed = agent.call("PATCH", f"/{draft['id']}", json={"bcc": []}).json()
    assert fixed["bcc"] == [] and agent.call("POST", f"/{draft['id']}/send").status_code == 201


def test_a_reply_draft_is_sent_in_its_thread(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    message_id = agent.deliver()
    draft = agent.create(
        to=["ann@acme.test"], subject="Re: Question", text="Answer", in_reply_to=message_id
    )
    assert draft["in_reply_to"] == message_id
    sent = agent.call("POST", f"/{draft['id']}/send").json()
    message = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{agent.inbox_id}/messages/{message_id}",
        headers=bearer(agent.inbox_key),
        timeout=30,
    ).json()
    assert sent["in_reply_to"] == message_id
    assert sent["thread_id"] == message["thread_id"] is not None
    # "" in an update replies to nothing.
    other = agent.create(in_reply_to=message_id)
    assert (
        agent.call("PATCH", f"/{other['id']}", json={"in_reply_to": ""}).json()["in_reply_to"]
        is None
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"to": [f"a{i}@x.test" for i in range(51)]}, "to"),
        ({"to": ["a@x.test"] * 30, "bcc": ["b@x.test"] * 21}, "to"),
        ({"cc": ["x" * 999]}, "cc"),
        ({"subject": "ü" * 999}, "subject"),
        ({"headers": {f"X-{i}": "v" for i in range(51)}}, "headers"),
        ({"headers": {"X-Big": "v" * 999}}, "headers"),
        ({"in_reply_to": "nope"}, "in_reply_to"),
        ({"in_reply_to": "x" * 5000}, "in_reply_to"),
        ({"to": "a@x.test"}, "to"),
        ({"to": [1]}, "to"),
        ({"text": 5}, "text"),
        ({"headers": ["X-A"]}, "headers"),
        ({"subject": "a\x00b"}, "subject"),
    ],
)
def test_caps_and_types_are_400_at_create_and_update(
    live_server: LiveServer, body: dict[str, Any], param: str
) -> None:
    agent = Agent(live_server)
    assert live_server.settings.outbound.max_recipients == 50
    created = agent.call("POST", json=body)
    assert (created.status_code, error_code(created)) == (400, "invalid_request"), created.text
    assert created.json()["error"]["param"] == param
    draft = agent.create()
    updated = agent.call("PATCH", f"/{draft['id']}", json=body)
    assert (updated.status_code, error_code(updated)) == (400, "invalid_request"), updated.text
    assert updated.json()["error"]["param"] == param
    assert agent.call("GET").json()["data"] == [draft]


def test_other_workspaces_and_account_keys(live_server: LiveServer) -> None:
    mine, theirs = Agent(live_server), Agent(live_server)
    their_draft = theirs.create(to=[mine.address], text="theirs")
    their_message = theirs.deliver()
    for method, path in (
        ("GET", f"/{their_draft['id']}"),
        ("PATCH", f"/{their_draft['id']}"),
        ("DELETE", f"/{their_draft['id']}"),
        ("POST", f"/{their_draft['id']}/send"),
    ):
        response = mine.call(method, path, json={} if method == "PATCH" else None)
        assert (response.status_code, error_code(response)) == (404, "not_found")
        # Their inbox with my key: 404; my inbox with my account key: 403 with a hint.
        response = httpx.request(
            method,
            theirs.base + path,
            headers=bearer(mine.inbox_key),
            json={} if method == "PATCH" else None,
        )
        assert (response.status_code, error_code(response)) == (404, "not_found")
    assert mine.call("GET", key=mine.account_key).status_code == 403
    assert mine.call("POST", json={}, key=mine.account_key).status_code == 403
    refused = mine.call("POST", json={"in_reply_to": their_message})
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "in_reply_to")
    assert theirs.call("GET", f"/{their_draft['id']}").json() == their_draft


def test_restricted_keys_need_send_and_see_their_senders_replies(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    draft = agent.create(text="x")
    read_only = agent.mint(permissions=["read"])
    for method, path in (
        ("GET", ""),
        ("POST", ""),
        ("GET", f"/{draft['id']}"),
        ("PATCH", f"/{draft['id']}"),
        ("DELETE", f"/{draft['id']}"),
        ("POST", f"/{draft['id']}/send"),
    ):
        response = agent.call(method, path, key=read_only, json={} if method != "GET" else None)
        assert (response.status_code, error_code(response)) == (403, "missing_permission")
    eve = agent.deliver("eve@evil.test")
    to_eve = agent.create(in_reply_to=eve)
    acme = agent.mint(permissions=["send"], allowed_senders=["*@acme.test"])
    assert [d["id"] for d in agent.call("GET", key=acme).json()["data"]] == [draft["id"]]
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/send")):
        hidden = agent.call(method, f"/{to_eve['id']}{path}", key=acme)
        assert (hidden.status_code, error_code(hidden)) == (404, "not_found")
    refused = agent.call("POST", json={"in_reply_to": eve}, key=acme)
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "in_reply_to")
    assert agent.call("GET", f"/{to_eve['id']}").status_code == 200


@pytest.mark.parametrize(
    "draft_id",
    ["x", "x" * 5000, "ü", "%E2%80%AE", "..%2F..", "00000000-0000-0000-0000-000000000000", " "],
)
def test_odd_draft_ids_are_404(live_server: LiveServer, draft_id: str) -> None:
    agent = Agent(live_server)
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/send")):
        response = agent.call(method, f"/{draft_id}{path}")
        assert (response.status_code, error_code(response)) == (404, "not_found")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": cursor_token(["thread", "2026-01-01T00:00:00+00:00", "x"])}, "cursor"),
    ],
)
def test_bad_listing_parameters_are_400(
    live_server: LiveServer, params: dict[str, Any], param: str
) -> None:
    agent = Agent(live_server)
    response = agent.call("GET", params=params)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


@pytest.fixture(scope="module", params=BACKENDS)
def quota_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(next(urls), DISPATCH_DAILY_SEND_QUOTA=1)
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def test_a_draft_send_takes_the_send_quota(quota_server: LiveServer) -> None:
    sender, receiver = Agent(quota_server), Agent(quota_server)
    first = sender.create(to=[receiver.address], text="1")
    second = sender.create(to=[receiver.address], text="2")
    assert sender.call("POST", f"/{first['id']}/send").status_code == 201
    refused = sender.call("POST", f"/{second['id']}/send")
    assert (refused.status_code, error_code(refused)) == (429, "quota_exceeded")
    assert sender.call("GET", f"/{second['id']}").status_code == 200
    direct = httpx.post(
        f"{quota_server.base_url}/v1/send",
        json={"to": [receiver.address], "text": "3"},
        headers=bearer(sender.inbox_key),
        timeout=30,
    )
    assert direct.status_code == 429 and len(sender.sent()) == 1


def test_the_sdk_round_trip_sync_and_async(live_server: LiveServer) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    with Dispatch(api_key=sender.account_key, base_url=live_server.base_url) as d:
        draft = d.drafts.create(sender.inbox_id, subject="Later")
        assert isinstance(draft, Draft) and (draft.version, draft.to) == (1, ())
        draft = d.drafts.update(
            sender.inbox_id, draft.id, to=receiver.address, text="Hi", version=draft.version
        )
        assert (draft.version, draft.to, draft.text) == (2, (receiver.address,), "Hi")
        with pytest.raises(ConflictError) as stale:
            d.drafts.update(sender.inbox_id, draft.id, text="lost", version=1)
        assert stale.value.code == "draft_changed"
        assert [x.id for x in d.drafts.list(sender.inbox_id)] == [draft.id]
        assert d.drafts.get(sender.inbox_id, draft.id) == draft
        sent = d.drafts.send(sender.inbox_id, draft.id)
        assert isinstance(sent, SentMessage) and sent.subject == "Later"
        with pytest.raises(NotFoundError):
            d.drafts.get(sender.inbox_id, draft.id)
        with pytest.raises(BadRequestError):
            d.drafts.send(sender.inbox_id, d.drafts.create(sender.inbox_id).id)

    async def run() -> None:
        async with AsyncDispatch(api_key=sender.inbox_key, base_url=live_server.base_url) as d:
            draft = await d.drafts.create(sender.inbox_id, to=[receiver.address], text="a")
            draft = await d.drafts.update(sender.inbox_id, draft.id, subject="Async")
            listed = [x.id async for x in d.drafts.list(sender.inbox_id, limit=1)]
            assert draft.id in listed and len(listed) == 2
            sent = await d.drafts.send(sender.inbox_id, draft.id)
            assert sent.subject == "Async"
            deleted = await d.drafts.delete(sender.inbox_id, listed[-1])
            with pytest.raises(NotFoundError):
                await d.drafts.get(sender.inbox_id, deleted.id)

    asyncio.run(run())
