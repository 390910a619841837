"""Labels and state over real HTTP on both databases: a message marked read and unread,
labelled, trashed and moved to spam (`PATCH …/messages/{id}`), batches all or nothing
(`POST …/messages/batch`), the listing's filters and the label counts; who may (restricted
keys' permissions and senders, account keys, other workspaces' ids), and bad input of each
kind (bodies, ids, label names, filters) as 4xx naming the field; the SDK's round trip,
sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from dispatch_client import (
    AsyncDispatch,
    BadRequestError,
    Dispatch,
    Label,
    Message,
    NotFoundError,
)
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, error_code, signup


class Agent:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        account = signup(server.base_url)
        self.inbox_id: str = account["inbox"]["id"]
        self.address: str = account["inbox"]["address"]
        self.inbox_key: str = account["inbox_key"]
        self.account_key: str = account["account_key"]

    def deliver(self, *, subject: str = "Hello", sender: str = "ann@acme.test") -> str:
        raw = (
            f"From: {sender}\r\nTo: {self.address}\r\nSubject: {subject}\r\n\r\n"
            "Your code is 424242\r\n"
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

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/v1/inboxes/{self.inbox_id}{path}"

    def get(self, path: str, key: str | None = None, **params: Any) -> httpx.Response:
        return httpx.get(self.url(path), params=params, headers=bearer(key or self.inbox_key))

    def ok(self, path: str, key: str | None = None, **params: Any) -> dict[str, Any]:
        response = self.get(path, key, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def patch(self, message_id: str, body: Any, key: str | None = None) -> httpx.Response:
        return httpx.patch(self.url(f"/messages/{message_id}"), **self._json(body, key))

    def batch(self, body: Any, key: str | None = None) -> httpx.Response:
        return httpx.post(self.url("/messages/batch"), **self._json(body, key))

    def _json(self, body: Any, key: str | None) -> dict[str, Any]:
        """The body as ASCII JSON (lone surrogates escaped, as httpx's json= cannot send)."""
        headers = {**bearer(key or self.inbox_key), "content-type": "application/json"}
        return {"content": json.dumps(body), "headers": headers}

    def mint(self, **restrictions: Any) -> httpx.Response:
        return httpx.post(
            self.url("/keys"), json=restrictions, headers=bearer(self.account_key), timeout=30
        )


def test_a_message_is_marked_labelled_trashed_and_moved(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    one = agent.deliver(subject="One")
    two = agent.deliver(subject="Two")
    summary = agent.ok("/messages")["data"][0]
    assert (summary["unread"], summary["read_at"], summary["labels"]) == (True, None, [])
    response = agent.patch(one, {"read": True, "labels": {"add": ["Work", "客户"]}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["unread"], body["labels"], body["subject"]) == (False, ["Work", "客户"], "One")
    assert body["read_at"] is not None and body["trashed_at"] is None
    assert [m["id"] for m in agent.ok("/messages", unread="true")["data"]] == [two]
    assert [m["id"] for m in agent.ok("/messages", unread="false")["data"]] == [one]
    assert [m["id"] for m in agent.ok("/messages", label="WORK")["data"]] == [one]
    threads = {t["subject"]: t["unread_count"] for t in agent.ok("/threads")["data"]}
    assert threads == {"One": 0, "Two": 1}
    body = agent.patch(one, {"read": False, "labels": {"remove": ["work"]}}).json()
    assert (body["unread"], body["labels"]) == (True, ["客户"])
    body = agent.patch(one, {"trash": True}).json()
    assert body["trashed_at"] is not None and body["folder"] == "inbox"
    assert [m["id"] for m in agent.ok("/messages")["data"]] == [two]
    assert [m["id"] for m in agent.ok("/messages", folder="trash")["data"]] == [one]
    assert [t["subject"] for t in agent.ok("/threads")["data"]] == ["Two"]
    agent.patch(one, {"trash": False})
    body = agent.patch(two, {"spam": True}).json()
    assert body["folder"] == "spam"
    assert [m["id"] for m in agent.ok("/messages", folder="spam")["data"]] == [two]
    assert agent.ok("/otp")["otp"]["message_id"] == one
    counts = {(c["name"], c["kind"]): c["message_count"] for c in agent.ok("/labels")["data"]}
    assert counts == {
        ("inbox", "system"): 1,
        ("spam", "system"): 1,
        ("trash", "system"): 0,
        ("客户", "user"): 1,
    }


def test_a_batch_changes_all_or_nothing(live_server: LiveServer) -> None:
    mine, theirs = Agent(live_server), Agent(live_server)
    ids = [mine.deliver(subject=f"M{i}") for i in range(3)]
    their_id = theirs.deliver()
    response = mine.batch({"ids": [*ids, their_id], "read": True})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert response.json()["error"]["param"] == "ids[3]"
    assert len(mine.ok("/messages", unread="true")["data"]) == 3
    response = mine.batch({"ids": ids, "read": True, "labels": {"add": ["done"]}})
    assert response.status_code == 200, response.text
    assert [(m["id"], m["unread"], m["labels"]) for m in response.json()["data"]] == [
        (i, False, ["done"]) for i in ids
    ]
    assert mine.ok("/messages", unread="true")["data"] == []
    assert theirs.ok("/messages", unread="true")["data"][0]["id"] == their_id
    # Their inbox through my key, my inbox's route with their message: 404 alike.
    response = httpx.post(
        f"{live_server.base_url}/v1/inboxes/{theirs.inbox_id}/messages/batch",
        json={"ids": [their_id], "read": True},
        headers=bearer(mine.inbox_key),
    )
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = mine.patch(their_id, {"read": True})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = mine.patch(ids[0], {"read": True}, mine.account_key)
    assert (response.status_code, error_code(response)) == (403, "forbidden")


def test_restricted_keys_organize_only_with_organize_and_their_senders(
    live_server: LiveServer,
) -> None:
    agent = Agent(live_server)
    ann = agent.deliver()
    eve = agent.deliver(sender="eve@evil.test")
    minted = agent.mint(allowed_senders=["*@acme.test"])
    assert minted.status_code == 201, minted.text
    narrow = minted.json()["key"]
    assert agent.patch(ann, {"read": True}, narrow).status_code == 200
    response = agent.patch(eve, {"read": True}, narrow)
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = agent.batch({"ids": [ann, eve], "trash": True}, narrow)
    assert response.json()["error"]["param"] == "ids[1]"
    labels = agent.ok("/labels", narrow)["data"]
    assert labels[0] == {"name": "inbox", "kind": "system", "message_count": 1, "unread_count": 0}
    read_only = agent.mint(permissions=["read"]).json()["key"]
    for response in (
        agent.patch(ann, {"read": False}, read_only),
        agent.batch({"ids": [ann], "read": False}, read_only),
    ):
        assert (response.status_code, error_code(response)) == (403, "missing_permission")
        assert response.json()["error"]["param"] == "organize"
    response = agent.mint(permissions=["organize"])
    assert (response.status_code, response.json()["error"]["param"]) == (400, "permissions")
    organizer = agent.mint(permissions=["read", "organize"]).json()["key"]
    assert agent.patch(ann, {"read": False}, organizer).json()["unread"] is True
    me = httpx.get(f"{live_server.base_url}/v1/auth/me", headers=bearer(organizer)).json()
    assert me["permissions"] == ["read", "organize"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "labels"),
        ({"read": None, "labels": {}}, "labels"),
        ({"read": "yes"}, "read"),
        ({"spam": 1}, "spam"),
        ({"trash": []}, "trash"),
        ({"labels": ["x"]}, "labels"),
        ({"labels": {"add": "x"}}, "labels.add"),
        ({"labels": {"add": [1]}}, "labels.add"),
        ({"labels": {"add": ["x" * 65]}}, "labels.add[0]"),
        ({"labels": {"add": ["ok", "   "]}}, "labels.add[1]"),
        ({"labels": {"add": ["a\tb"]}}, "labels.add[0]"),
        ({"labels": {"add": ["a\u0000b"]}}, None),  # NUL: refused as the body is read
        ({"labels": {"add": ["\ud800"]}}, None),
        ({"labels": {"add": ["Spam"]}}, "labels.add[0]"),
        ({"labels": {"remove": ["trash"]}}, "labels.remove[0]"),
        ({"labels": {"add": [f"l{i}" for i in range(21)]}}, "labels.add"),
        ({"labels": {"add": ["a"], "remove": ["A"]}}, "labels.add[0]"),
        ({"labels": {"add": ["ü" * 2000]}}, "labels.add[0]"),
    ],
)
def test_bad_changes_are_400_naming_the_field(
    live_server: LiveServer, body: dict[str, Any], param: str | None
) -> None:
    agent = Agent(live_server)
    message_id = agent.deliver()
    for response in (
        agent.patch(message_id, body),
        agent.batch({"ids": [message_id], **body}),
    ):
        assert (response.status_code, error_code(response)) == (400, "invalid_request")
        if param is not None:
            assert response.json()["error"]["param"] == param
    assert agent.ok(f"/messages/{message_id}")["labels"] == []


@pytest.mark.parametrize(
    ("ids", "param"),
    [
        ([], "ids"),
        (["m"] * 101, "ids"),
        ("m", "ids"),
        ([1], "ids"),
        ([None], "ids"),
        (["0"], "ids[0]"),
        (["x" * 3000], "ids[0]"),
        (["%E2%80%AE"], "ids[0]"),
    ],
)
def test_bad_batch_ids_are_4xx_naming_them(live_server: LiveServer, ids: Any, param: str) -> None:
    agent = Agent(live_server)
    response = agent.batch({"ids": ids, "read": True})
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"]["param"] == param


def test_a_message_named_twice_in_a_batch_is_400(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    message_id = agent.deliver()
    response = agent.batch({"ids": [message_id, message_id], "read": True})
    assert (response.status_code, response.json()["error"]["param"]) == (400, "ids[1]")
    response = agent.batch({"read": True})
    assert (response.status_code, response.json()["error"]["param"]) == (400, "ids")


@pytest.mark.parametrize(
    "message_id",
    ["x", "x" * 5000, "ü", "%E2%80%AE", "..%2F..", "00000000-0000-0000-0000-000000000000"],
)
def test_odd_message_ids_are_404(live_server: LiveServer, message_id: str) -> None:
    agent = Agent(live_server)
    response = agent.patch(message_id, {"read": True})
    assert (response.status_code, error_code(response)) == (404, "not_found")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"unread": "yes"}, "unread"),
        ({"folder": "bin"}, "folder"),
        ({"label": "x" * 65}, "label"),
        ({"label": "spam"}, "label"),
        ({"label": "a\tb"}, "label"),
    ],
)
def test_bad_listing_filters_are_400_naming_them(
    live_server: LiveServer, params: dict[str, str], param: str
) -> None:
    agent = Agent(live_server)
    response = agent.get("/messages", **params)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert response.json()["error"]["param"] == param


def test_the_sdk_changes_state_and_counts_labels_sync_and_async(live_server: LiveServer) -> None:
    agent = Agent(live_server)
    ids = [agent.deliver(subject=f"SDK {i}") for i in range(3)]
    with Dispatch(api_key=agent.inbox_key, base_url=live_server.base_url) as d:
        message = d.messages.update(agent.inbox_id, ids[0], read=True, add_labels=["Bills"])
        assert isinstance(message, Message)
        assert (message.unread, message.labels) == (False, ("Bills",))
        changed = d.messages.batch_update(agent.inbox_id, ids[1:], trash=True)
        assert [(s.id, s.trashed_at is not None) for s in changed] == [(i, True) for i in ids[1:]]
        assert [s.id for s in d.messages.list(agent.inbox_id, folder="trash")] == ids[:0:-1]
        assert [s.id for s in d.messages.list(agent.inbox_id, label="bills")] == [ids[0]]
        assert list(d.messages.list(agent.inbox_id, unread=True)) == []
        with pytest.raises(NotFoundError):
            d.messages.batch_update(agent.inbox_id, [ids[0], "nope"], read=False)
        with pytest.raises(BadRequestError):
            d.messages.update(agent.inbox_id, ids[0])

    async def run() -> tuple[Label, ...]:
        async with AsyncDispatch(api_key=agent.inbox_key, base_url=live_server.base_url) as d:
            message = await d.messages.update(agent.inbox_id, ids[0], remove_labels=["BILLS"])
            assert message.labels == ()
            await d.messages.batch_update(agent.inbox_id, ids, read=False, add_labels=["x"])
            unread = [s.id async for s in d.messages.list(agent.inbox_id, unread=True)]
            assert unread == [ids[0]]
            return await d.messages.labels(agent.inbox_id)

    labels = asyncio.run(run())
    assert all(isinstance(label, Label) for label in labels)
    assert [(lb.name, lb.kind, lb.message_count, lb.unread_count) for lb in labels] == [
        ("inbox", "system", 1, 1),
        ("spam", "system", 0, 0),
        ("trash", "system", 2, 2),
        ("x", "user", 1, 1),
    ]
