"""Allow and block lists over real HTTP and SMTP on both databases: the routes and who may
use them, bad input named by field, RCPT refused with 550 5.7.1 (and the RCPT memory never
letting a blocked sender through), the dev webhook door refusing, sends refused before any
row or quota, and the SDK's round trip, sync and async."""

from __future__ import annotations

import asyncio
import smtplib
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_client import (
    AsyncDispatch,
    Dispatch,
    ListEntry,
    PermissionDeniedError,
    RecipientBlockedError,
)
from dispatch_server.db import tables as t
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, error_code, make_mail, signup, smtp_send


class Workspace:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        account = signup(server.base_url)
        self.inbox_id: str = account["inbox"]["id"]
        self.address: str = account["inbox"]["address"]
        self.workspace_id: str = account["inbox"]["workspace_id"]
        self.inbox_key: str = account["inbox_key"]
        self.account_key: str = account["account_key"]

    def add(self, key: str | None = None, **body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/v1/lists",
            json=body,
            headers=bearer(key or self.account_key),
            timeout=30,
        )

    def block(self, pattern: str, direction: str = "receive", **more: Any) -> dict[str, Any]:
        response = self.add(pattern=pattern, direction=direction, action="block", **more)
        assert response.status_code == 201, response.text
        entry: dict[str, Any] = response.json()
        return entry

    def entries(self, key: str | None = None, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.server.base_url}/v1/lists",
            params=params,
            headers=bearer(key or self.account_key),
            timeout=30,
        )

    def messages(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.server.base_url}/v1/inboxes/{self.inbox_id}/messages",
            params={"folder": "all"},
            headers=bearer(self.inbox_key),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


def test_account_keys_add_list_and_delete_entries(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    created = ws.add(pattern="Spam.Bücher.test", direction="receive", action="block")
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["pattern"] == "spam.xn--bcher-kva.test" and entry["inbox_id"] is None
    own = ws.block("a@x.test", "send", inbox_id=ws.inbox_id)
    listed = ws.entries().json()
    assert [e["id"] for e in listed["data"]] == [own["id"], entry["id"]]
    assert [e["id"] for e in ws.entries(inbox_id=ws.inbox_id).json()["data"]] == [own["id"]]
    assert [e["id"] for e in ws.entries(direction="receive").json()["data"]] == [entry["id"]]
    again = ws.add(pattern="SPAM.xn--bcher-kva.test", direction="receive", action="allow")
    assert again.status_code == 409 and error_code(again) == "list_entry_exists"
    assert again.json()["error"]["param"] == "pattern"
    url = f"{live_server.base_url}/v1/lists/{entry['id']}"
    deleted = httpx.delete(url, headers=bearer(ws.account_key))
    assert deleted.status_code == 200 and deleted.json()["id"] == entry["id"]
    assert httpx.delete(url, headers=bearer(ws.account_key)).status_code == 404


def _mint(ws: Workspace, inbox_id: str, **restrictions: Any) -> str:
    minted = httpx.post(
        f"{ws.server.base_url}/v1/inboxes/{inbox_id}/keys",
        json=restrictions,
        headers=bearer(ws.account_key),
        timeout=30,
    )
    assert minted.status_code == 201, minted.text
    key: str = minted.json()["key"]
    return key


def _second_inbox(ws: Workspace) -> str:
    created = httpx.post(
        f"{ws.server.base_url}/v1/inboxes", json={}, headers=bearer(ws.account_key), timeout=30
    )
    assert created.status_code == 201, created.text
    inbox_id: str = created.json()["id"]
    return inbox_id


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["data"]]


def test_an_inbox_key_lists_the_entries_that_apply_to_its_inbox_only(
    live_server: LiveServer,
) -> None:
    ws, other = Workspace(live_server), Workspace(live_server)
    sibling = _second_inbox(ws)
    sibling_key = _mint(ws, sibling)
    everyone = ws.block("x.test")
    own = ws.block("a@y.test", "send", inbox_id=ws.inbox_id)
    theirs = ws.block("z.test", inbox_id=sibling)
    their_everyone = other.block("elsewhere.test")
    their_own = other.block("o.test", inbox_id=other.inbox_id)

    assert _ids(ws.entries(ws.inbox_key)) == [own["id"], everyone["id"]]
    assert _ids(ws.entries(ws.inbox_key, direction="send")) == [own["id"]]
    assert _ids(ws.entries(ws.inbox_key, inbox_id=ws.inbox_id)) == [own["id"]]
    assert _ids(ws.entries(sibling_key)) == [theirs["id"], everyone["id"]]
    assert _ids(other.entries(other.inbox_key)) == [their_own["id"], their_everyone["id"]]
    # Paged like the account key's listing, the filter kept on every page.
    first = ws.entries(ws.inbox_key, limit=1).json()
    assert [e["id"] for e in first["data"]] == [own["id"]] and first["next_cursor"]
    rest = ws.entries(ws.inbox_key, limit=1, cursor=first["next_cursor"]).json()
    assert [e["id"] for e in rest["data"]] == [everyone["id"]]
    # Another inbox, of this workspace or another, or none: 404 as on every inbox route.
    for inbox_id in (sibling, other.inbox_id, "inb_nope"):
        refused = ws.entries(ws.inbox_key, inbox_id=inbox_id)
        assert refused.status_code == 404 and error_code(refused) == "not_found", inbox_id


@pytest.mark.parametrize(
    ("restrictions", "lists"),
    [
        ({"permissions": ["read"]}, True),
        ({"permissions": ["read", "send"], "allowed_senders": ["*@x.test"]}, True),
        ({"allowed_senders": ["*@x.test"]}, True),
        ({"permissions": ["wait", "send", "memory"]}, False),
        ({"permissions": ["send"]}, False),
    ],
)
def test_a_restricted_key_lists_them_only_with_read(
    live_server: LiveServer, restrictions: dict[str, Any], lists: bool
) -> None:
    ws = Workspace(live_server)
    entry = ws.block("x.test")
    key = _mint(ws, ws.inbox_id, **restrictions)
    listed = ws.entries(key)
    if lists:
        assert _ids(listed) == [entry["id"]]
    else:
        assert listed.status_code == 403 and error_code(listed) == "missing_permission"
        assert listed.json()["error"]["param"] == "read"


def test_writes_need_an_account_key_and_other_workspaces_are_kept_out(
    live_server: LiveServer,
) -> None:
    ws, other = Workspace(live_server), Workspace(live_server)
    entry = ws.block("x.test")
    own = ws.block("a@x.test", "send", inbox_id=ws.inbox_id)
    restricted = _mint(ws, ws.inbox_id, permissions=["read"], allowed_senders=["*@x.test"])
    for key in (ws.inbox_key, restricted):
        for body in (
            {"pattern": "y.test", "direction": "receive", "action": "allow"},
            {"pattern": "y.test", "direction": "send", "action": "allow", "inbox_id": ws.inbox_id},
        ):
            added = ws.add(key, **body)
            assert added.status_code == 403 and error_code(added) == "forbidden", added.text
        for target in (entry, own):
            url = f"{live_server.base_url}/v1/lists/{target['id']}"
            gone = httpx.delete(url, headers=bearer(key))
            assert gone.status_code == 403 and error_code(gone) == "forbidden"
    assert _ids(ws.entries()) == [own["id"], entry["id"]]
    # Another workspace sees none of these entries, and cannot delete them or name its inbox.
    assert other.entries().json()["data"] == []
    assert other.entries(inbox_id=ws.inbox_id).json()["data"] == []
    url = f"{live_server.base_url}/v1/lists/{entry['id']}"
    assert httpx.delete(url, headers=bearer(other.account_key)).status_code == 404
    theirs = other.add(pattern="z.test", direction="receive", action="block", inbox_id=ws.inbox_id)
    assert theirs.status_code == 400 and theirs.json()["error"]["param"] == "inbox_id"
    assert len(ws.entries().json()["data"]) == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"pattern": "not a pattern", "direction": "receive", "action": "block"}, "pattern"),
        ({"pattern": "x" * 5000 + ".test", "direction": "receive", "action": "block"}, "pattern"),
        ({"pattern": "a\x00@x.test", "direction": "receive", "action": "block"}, "pattern"),
        ({"pattern": "x.test", "direction": "sideways", "action": "block"}, "direction"),
        ({"pattern": "x.test", "direction": "receive", "action": "maybe"}, "action"),
        ({"direction": "receive", "action": "block"}, "pattern"),
        ({"pattern": 7, "direction": "receive", "action": "block"}, "pattern"),
        (
            {"pattern": "x.test", "direction": "receive", "action": "block", "inbox_id": "nope"},
            "inbox_id",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    live_server: LiveServer, body: dict[str, Any], param: str
) -> None:
    ws = Workspace(live_server)
    response = ws.add(**body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    bad_query = ws.entries(direction="sideways")
    assert bad_query.status_code == 400 and bad_query.json()["error"]["param"] == "direction"


def _smtp_refusal(server: LiveServer, sender: str, to: str) -> tuple[int, bytes] | None:
    try:
        smtp_send(server.smtp_host, server.smtp_port, to, make_mail(to), sender=sender)
    except smtplib.SMTPRecipientsRefused as refused:
        return refused.recipients[to]
    except smtplib.SMTPDataError as refused:
        error = refused.smtp_error
        return refused.smtp_code, error if isinstance(error, bytes) else error.encode()
    return None


def test_rcpt_is_refused_for_a_blocked_sender_over_smtp(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    ws.block("spam.test")
    ws.block("boss@corp.test", inbox_id=ws.inbox_id)
    for sender in ("bad@spam.test", "BAD@Spam.Test", "boss@corp.test"):
        refusal = _smtp_refusal(live_server, sender, ws.address)
        assert refusal is not None and refusal[0] == 550, sender
        assert refusal[1].startswith(b"5.7.1"), refusal
    assert _smtp_refusal(live_server, "friend@mail.spam.test", ws.address) is None
    assert _smtp_refusal(live_server, "colleague@corp.test", ws.address) is None
    # Allow-list mode: once an allow entry exists, only what it allows is taken.
    ws.add(pattern="*.partner.test", direction="receive", action="allow")
    assert _smtp_refusal(live_server, "a@eu.partner.test", ws.address) is None
    refusal = _smtp_refusal(live_server, "colleague@corp.test", ws.address)
    assert refusal is not None and refusal[0] == 550
    assert {m["from"] for m in ws.messages()} == {"Acme <no-reply@acme.test>"} and len(
        ws.messages()
    ) == 3


def test_the_rcpt_memory_never_lets_a_blocked_sender_through(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    # Taken with no lists: the door now remembers the address for a moment...
    assert _smtp_refusal(live_server, "first@ok.test", ws.address) is None
    ws.block("late.test")
    # ...but the ingest transaction checks again: refused at DATA, nothing stored.
    refusal = _smtp_refusal(live_server, "x@late.test", ws.address)
    assert refusal is not None and refusal[0] == 550 and refusal[1].startswith(b"5.7.1")
    # With lists, each RCPT asks: an allowed sender does not open the door to a blocked one.
    assert _smtp_refusal(live_server, "second@ok.test", ws.address) is None
    refusal = _smtp_refusal(live_server, "y@late.test", ws.address)
    assert refusal is not None and refusal[0] == 550
    assert len(ws.messages()) == 2


def test_the_webhook_door_refuses_a_blocked_sender(live_server: LiveServer) -> None:
    ws, other = Workspace(live_server), Workspace(live_server)
    ws.block("spam.test")

    def post(to: list[str], sender: str) -> httpx.Response:
        return httpx.post(
            f"{live_server.base_url}/v1/webhooks/inbound",
            headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
            json={"to": to, "from": sender, "subject": "Hi", "text": "hello"},
        )

    refused = post([ws.address], "Bad <bad@spam.test>")
    assert refused.status_code == 403 and error_code(refused) == "sender_blocked"
    # Only the inbox whose lists refuse it goes without; the other recipient gets its copy.
    partly = post([ws.address, other.address], "bad@spam.test")
    assert partly.status_code == 201, partly.text
    assert [d["inbox_id"] for d in partly.json()["deliveries"]] == [other.inbox_id]
    assert partly.json()["rejected"] == [ws.address]
    assert ws.messages() == [] and len(other.messages()) == 1


def _quota_row(server: LiveServer, workspace_id: str) -> Any:
    async def read() -> Any:
        engine = create_async_engine(server.database_url)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.workspace_quotas).where(
                        t.workspace_quotas.c.workspace_id == workspace_id
                    )
                )
            ).first()
            outbound = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(t.outbound_messages)
                .where(t.outbound_messages.c.workspace_id == workspace_id)
            )
        await engine.dispose()
        return row, outbound

    return asyncio.run(read())


def test_a_blocked_recipient_is_refused_before_any_row_or_quota(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    ws.block("blocked.test", "send")

    def send(**body: Any) -> httpx.Response:
        return httpx.post(
            f"{live_server.base_url}/v1/send",
            json={"text": "x", **body},
            headers=bearer(ws.inbox_key),
            timeout=30,
        )

    refused = send(to=["ok@fine.test"], cc=["Someone <A@Blocked.test>"])
    assert refused.status_code == 422 and error_code(refused) == "recipient_blocked"
    assert refused.json()["error"]["param"] == "cc"
    assert "a@blocked.test" in refused.json()["error"]["message"]
    assert send(to=["a@blocked.test"]).json()["error"]["param"] == "to"
    row, outbound = _quota_row(live_server, ws.workspace_id)
    assert outbound == 0 and (row is None or row.sent_count == 0)
    # Allow-list mode for sending, from the one inbox.
    ws.add(pattern="fine.test", direction="send", action="allow", inbox_id=ws.inbox_id)
    assert send(to=["ok@fine.test"]).status_code == 201
    elsewhere = send(to=["ok@other.test"])
    assert elsewhere.status_code == 422 and error_code(elsewhere) == "recipient_blocked"
    _, outbound = _quota_row(live_server, ws.workspace_id)
    assert outbound == 1


def test_the_sdk_round_trip_sync_and_async(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    with Dispatch(api_key=ws.account_key, base_url=live_server.base_url) as d:
        entry = d.lists.create("Blocked.test", direction="send", action="block")
        assert isinstance(entry, ListEntry) and entry.pattern == "blocked.test"
        mine = d.lists.create("a@x.test", direction="receive", action="allow", inbox_id=ws.inbox_id)
        assert [e.id for e in d.lists.list()] == [mine.id, entry.id]
        assert [e.id for e in d.lists.list(direction="send")] == [entry.id]
        with pytest.raises(RecipientBlockedError) as refused:
            d.messages.send(ws.inbox_id, to=["z@blocked.test"], subject="x", text="x")
        assert refused.value.code == "recipient_blocked"
        assert d.lists.delete(entry.id).id == entry.id

    async def run() -> None:
        async with AsyncDispatch(api_key=ws.account_key, base_url=live_server.base_url) as d:
            created = await d.lists.create("*.y.test", direction="receive", action="block")
            listed = [e.id async for e in d.lists.list(inbox_id=ws.inbox_id)]
            assert listed == [mine.id]
            page = await d.lists.list(limit=1)
            assert [e.id for e in page.data] == [created.id]
            assert (await d.lists.delete(created.id)).pattern == "*.y.test"

    asyncio.run(run())
    with Dispatch(api_key=ws.inbox_key, base_url=live_server.base_url) as by_inbox:
        assert [e.id for e in by_inbox.lists.list()] == [mine.id]
        with pytest.raises(PermissionDeniedError) as denied:
            by_inbox.lists.create("q.test", direction="receive", action="allow")
        assert denied.value.code == "forbidden"
        with pytest.raises(PermissionDeniedError):
            by_inbox.lists.delete(mine.id)

    async def run_as_inbox() -> None:
        async with AsyncDispatch(api_key=ws.inbox_key, base_url=live_server.base_url) as d:
            assert [e.id async for e in d.lists.list(inbox_id=ws.inbox_id)] == [mine.id]

    asyncio.run(run_as_inbox())


@pytest.mark.parametrize("odd", ["\x00", "\ud800", "x" * 5000, "a/b", "%"])
def test_odd_ids_in_the_query_and_the_path_are_never_a_500(
    live_server: LiveServer, odd: str
) -> None:
    ws = Workspace(live_server)
    quoted = quote(odd.encode("utf-8", "surrogatepass"), safe="")
    headers = bearer(ws.account_key)
    listed = httpx.get(f"{live_server.base_url}/v1/lists?inbox_id={quoted}", headers=headers)
    assert listed.status_code in (200, 400), listed.text
    url = f"{live_server.base_url}/v1/lists?inbox_id={quoted}"
    by_inbox_key = httpx.get(url, headers=bearer(ws.inbox_key))
    assert by_inbox_key.status_code in (400, 404), by_inbox_key.text
    deleted = httpx.delete(f"{live_server.base_url}/v1/lists/{quoted}", headers=headers)
    assert deleted.status_code in (400, 404), deleted.text


def test_an_inbox_in_allow_list_mode_still_writes_and_reads_its_memory(
    live_server: LiveServer,
) -> None:
    ws = Workspace(live_server)
    for direction in ("receive", "send"):
        added = ws.add(pattern="partner.test", direction=direction, action="allow")
        assert added.status_code == 201, added.text
    base = f"{live_server.base_url}/v1/inboxes/{ws.inbox_id}/memory"
    written = httpx.post(
        base, json={"key": "plan", "value": "step 2"}, headers=bearer(ws.inbox_key)
    )
    assert written.status_code == 201, written.text
    read = httpx.get(base, params={"key": "plan"}, headers=bearer(ws.inbox_key))
    assert read.status_code == 200 and read.json()["value"] == "step 2", read.text
    # Mail from outside claiming to be the inbox is still refused.
    refusal = _smtp_refusal(live_server, ws.address, ws.address)
    assert refusal is not None and refusal[0] == 550


def test_a_null_sender_is_matched_by_its_from_address_after_data(live_server: LiveServer) -> None:
    ws = Workspace(live_server)
    ws.block("spam.test")
    blocked = make_mail(ws.address, sender="Bad <bad@spam.test>")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        smtp_send(live_server.smtp_host, live_server.smtp_port, ws.address, blocked, sender="")
    assert refused.value.smtp_code == 550
    fine = make_mail(ws.address, sender="MAILER-DAEMON <postmaster@ok.test>")
    smtp_send(live_server.smtp_host, live_server.smtp_port, ws.address, fine, sender="")
    assert len(ws.messages()) == 1
