"""Sending mail over real HTTP on both databases, through the `local` provider: delivery
into the server's own inboxes, every bad field a 400 naming it, Bcc kept out of headers,
threading, idempotency, quotas under concurrency, suppressions and memory."""

from __future__ import annotations

import base64
import email
import email.policy
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.db import tables as t
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, error_code, signup, smtp_send


class Agent:
    """A new workspace and its inbox, with both keys."""

    def __init__(self, server: LiveServer, local_part: str | None = None) -> None:
        self.server = server
        account = signup(server.base_url, **({"local_part": local_part} if local_part else {}))
        self.inbox_id: str = account["inbox"]["id"]
        self.address: str = account["inbox"]["address"]
        self.workspace_id: str = account["inbox"]["workspace_id"]
        self.inbox_key: str = account["inbox_key"]
        self.account_key: str = account["account_key"]

    def send(
        self, key: str | None = None, idempotency_key: str | None = None, **body: Any
    ) -> httpx.Response:
        headers = bearer(key or self.inbox_key)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return httpx.post(f"{self.server.base_url}/v1/send", json=body, headers=headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.server.base_url}/v1/inboxes/{self.inbox_id}{path}",
            params=params,
            headers=bearer(self.inbox_key),
            timeout=30,
        )

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/v1/inboxes/{self.inbox_id}{path}",
            json=body,
            headers=bearer(self.inbox_key),
            timeout=30,
        )

    def received(self) -> list[dict[str, Any]]:
        response = self.get("/messages", limit=100, folder="all")
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def raw(self, message_id: str) -> email.message.EmailMessage:
        response = self.get(f"/messages/{message_id}/raw")
        assert response.status_code == 200
        parsed = email.message_from_bytes(response.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


def test_mail_to_another_inbox_here_is_delivered(live_server: LiveServer) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    response = sender.send(to=[receiver.address], subject="Hello", text="Your code is 481516")
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["status"] == "delivered"
    assert sent["from"] == sender.address and sent["to"] == [receiver.address]
    assert [e["type"] for e in sent["events"]] == ["queued", "sent", "delivered"]
    (arrived,) = receiver.received()
    assert arrived["subject"] == "Hello" and arrived["from_address"] == sender.address
    otp = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{receiver.inbox_id}/otp",
        headers=bearer(receiver.inbox_key),
    )
    assert otp.json()["otp"]["code"] == "481516"
    listed = sender.get("/sent").json()["data"]
    assert [m["id"] for m in listed] == [sent["id"]]
    assert sender.get(f"/sent/{sent['id']}").json() == sent


def test_mail_elsewhere_is_recorded_as_sent_not_relayed(live_server: LiveServer) -> None:
    sender = Agent(live_server)
    sent = sender.send(to=["someone@example.com"], subject="Hi", text="x").json()
    assert sent["status"] == "sent"
    assert [e["type"] for e in sent["events"]] == ["queued", "sent"]


def test_an_account_key_names_the_inbox_and_an_inbox_key_only_its_own(
    live_server: LiveServer,
) -> None:
    sender, other = Agent(live_server), Agent(live_server)
    body: dict[str, Any] = {"to": ["a@example.com"], "text": "x"}
    missing = sender.send(key=sender.account_key, **body)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "inbox_id"
    named = sender.send(key=sender.account_key, inbox_id=sender.inbox_id, **body)
    assert named.status_code == 201 and named.json()["from"] == sender.address
    assert sender.send(inbox_id=other.inbox_id, **body).status_code == 404
    assert sender.send(key=sender.account_key, inbox_id=other.inbox_id, **body).status_code == 404


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("no recipient", {"to": []}, "to"),
    ("not an address", {"to": ["nobody"]}, "to"),
    ("two in one", {"to": ["a@example.com, b@example.com"]}, "to"),
    ("no dot in the domain", {"to": ["a@localhost"]}, "to"),
    ("address literal", {"to": ["a@[127.0.0.1]"]}, "to"),
    ("non-ASCII local part", {"to": ["jöe@example.com"]}, "to"),
    ("bad IDN", {"to": ["a@xn--.example"]}, "to"),
    ("bad punycode", {"to": ["a@xn--zzzzzzzzz.example"]}, "to"),
    ("two trailing dots", {"to": ["a@example.com.."]}, "to"),
    ("an empty label", {"to": ["a@example..com"]}, "to"),
    ("CRLF in to", {"to": ["a@example.com\r\nBcc: x@evil.example"]}, "to"),
    ("bad cc", {"cc": ["nope"]}, "cc"),
    ("bad bcc", {"bcc": ["a@b@c"]}, "bcc"),
    ("bad reply_to", {"reply_to": ["<>"]}, "reply_to"),
    ("LF in subject", {"subject": "Hi\nBcc: x@evil.example"}, "subject"),
    ("CR in subject", {"subject": "Hi\rX: y"}, "subject"),
    ("U+2028 in subject", {"subject": "Hi\u2028X: y"}, "subject"),
    ("no body", {"text": None, "html": None}, "text"),
    ("empty bodies", {"text": "", "html": ""}, "text"),
    ("wrong type to", {"to": "a@example.com"}, "to"),
    ("wrong type text", {"text": 5}, "text"),
    ("From header", {"headers": {"From": "boss@bank.example"}}, "headers"),
    ("Sender header", {"headers": {"Sender": "boss@bank.example"}}, "headers"),
    ("To header", {"headers": {"to": "x@evil.example"}}, "headers"),
    ("Bcc header", {"headers": {"BCC": "x@evil.example"}}, "headers"),
    ("Return-Path header", {"headers": {"Return-Path": "<x@evil.example>"}}, "headers"),
    ("DKIM header", {"headers": {"DKIM-Signature": "v=1"}}, "headers"),
    ("Received header", {"headers": {"Received": "from x"}}, "headers"),
    ("Message-ID header", {"headers": {"Message-ID": "<a@b>"}}, "headers"),
    ("Content-Type header", {"headers": {"Content-Type": "text/html"}}, "headers"),
    ("X-Original header", {"headers": {"X-Original-To": "x@evil.example"}}, "headers"),
    ("header name with colon", {"headers": {"X-A:B": "c"}}, "headers"),
    ("a header twice", {"headers": {"X-Tag": "a", "x-tag": "b"}}, "headers"),
    ("CRLF in a header value", {"headers": {"X-Tag": "a\r\nBcc: x@evil.example"}}, "headers"),
    (
        "bad base64",
        {"attachments": [{"filename": "a.txt", "content": "!!!"}]},
        "attachments.content",
    ),
    (
        "CRLF in a filename",
        {"attachments": [{"filename": "a\r\nX: y.txt", "content": "eA=="}]},
        "attachments",
    ),
    (
        "bad content type",
        {"attachments": [{"filename": "a", "content": "eA==", "content_type": "text"}]},
        "attachments",
    ),
    ("attachment without content", {"attachments": [{"filename": "a"}]}, "attachments.content"),
    ("unknown in_reply_to", {"in_reply_to": "0" * 32}, "in_reply_to"),
]


@pytest.mark.parametrize(("case", "fields", "param"), BAD_FIELDS, ids=[c for c, _, _ in BAD_FIELDS])
def test_every_bad_field_is_a_400_naming_it(
    live_server: LiveServer, case: str, fields: dict[str, Any], param: str
) -> None:
    sender = Agent(live_server)
    body = {"to": ["a@example.com"], "subject": "s", "text": "t", **fields}
    response = sender.send(**body)
    assert response.status_code == 400, (case, response.text)
    assert error_code(response) == "invalid_request"
    assert response.json()["error"]["param"] == param
    assert sender.get("/sent").json()["data"] == []  # nothing stored


def test_too_many_recipients_is_a_400(live_server: LiveServer) -> None:
    limit = live_server.settings.outbound.max_recipients
    sender = Agent(live_server)
    to = [f"r{i}@example.com" for i in range(limit)]
    response = sender.send(to=to, bcc=["one-more@example.com"], text="x")
    assert response.status_code == 400 and response.json()["error"]["param"] == "to"


def test_bcc_is_delivered_but_in_no_header_and_idn_becomes_punycode(
    live_server: LiveServer,
) -> None:
    sender, shown, hidden = Agent(live_server), Agent(live_server), Agent(live_server)
    sent = sender.send(
        to=[shown.address],
        cc=["Zoë <zoe@bücher.example>"],
        bcc=[hidden.address],
        subject="Für dich =?UTF-8?Q?=0A?=X-Spam-Flag: YES",
        text="x",
    ).json()
    assert sent["cc"] == ["Zoë <zoe@xn--bcher-kva.example>"]
    assert sent["status"] == "sent"  # the cc is elsewhere: not every recipient is here
    for receiver in (shown, hidden):
        (arrived,) = receiver.received()
        raw = receiver.raw(arrived["id"])
        assert raw["Bcc"] is None and hidden.address not in str(raw)
        assert raw["Cc"] == "Zoë <zoe@xn--bcher-kva.example>"
        assert raw["X-Spam-Flag"] is None
        assert raw["Subject"] == "Für dich =?UTF-8?Q?=0A?=X-Spam-Flag: YES"
        assert arrived["folder"] == "inbox"


def test_international_and_rooted_domains_are_sent_in_ascii(live_server: LiveServer) -> None:
    sender = Agent(live_server)
    sent = sender.send(to=["a@例え.テスト", "b@example.com."], text="x").json()
    assert sent["to"] == ["a@xn--r8jz45g.xn--zckzah", "b@example.com"]


def test_an_inbox_display_name_is_from_and_never_another_address(
    live_server: LiveServer,
) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    account = bearer(sender.account_key)
    url = f"{live_server.base_url}/v1/inboxes"
    for name in ("Ops\nBcc: x@evil.example", "Ops\tTeam"):
        refused = httpx.post(url, json={"display_name": name}, headers=account)
        assert refused.status_code == 400, refused.text  # it would refuse every send
        assert refused.json()["error"]["param"] == "display_name"
    name = 'Ops, "Team" <boss@bank.example>'
    inbox = httpx.post(url, json={"display_name": name}, headers=account).json()
    sent = sender.send(
        key=sender.account_key, inbox_id=inbox["id"], to=[receiver.address], text="x"
    )
    assert sent.status_code == 201, sent.text
    (arrived,) = receiver.received()
    assert receiver.raw(arrived["id"])["From"].addresses[0].addr_spec == inbox["address"]
    assert arrived["from_address"] == inbox["address"]


def test_attachments_arrive_whole(live_server: LiveServer) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    data = bytes(range(256)) * 40
    sent = sender.send(
        to=[receiver.address],
        text="see attached",
        attachments=[
            {
                "filename": "rapport é.bin",
                "content": base64.b64encode(data).decode(),
                "content_type": "application/octet-stream",
            }
        ],
    ).json()
    assert sent["attachments"] == [
        {
            "filename": "rapport é.bin",
            "content_type": "application/octet-stream",
            "size_bytes": 10240,
        }
    ]
    (arrived,) = receiver.received()
    raw = receiver.raw(arrived["id"])
    (part,) = list(raw.iter_attachments())
    assert part.get_filename() == "rapport é.bin" and part.get_content() == data


def test_a_reply_keeps_the_thread(live_server: LiveServer) -> None:
    service, agent = Agent(live_server), Agent(live_server)
    first = service.send(
        to=[agent.address], subject="Welcome", text="Hello", reply_to=[service.address]
    ).json()
    (arrived,) = agent.received()
    replied = agent.post(f"/messages/{arrived['id']}/reply", {"text": "Thanks"})
    assert replied.status_code == 201, replied.text
    reply = replied.json()
    assert reply["to"] == [service.address] and reply["subject"] == "Re: Welcome"
    assert reply["in_reply_to"] == arrived["id"]
    (answer,) = service.received()
    raw = service.raw(answer["id"])
    assert raw["In-Reply-To"] == first["message_id"]
    assert first["message_id"] in raw["References"]
    # Sending with in_reply_to does the same.
    again = agent.send(
        to=[service.address], subject="More", text="x", in_reply_to=arrived["id"]
    ).json()
    assert again["in_reply_to"] == arrived["id"]


def _receive_raw(server: LiveServer, agent: Agent, headers: str) -> str:
    raw = (
        f"From: Someone <someone@example.com>\r\nTo: {agent.address}\r\nSubject: Hi\r\n"
        f"Message-ID: <orig@example.com>\r\n{headers}\r\nbody\r\n"
    ).encode()
    smtp_send(server.smtp_host, server.smtp_port, agent.address, raw)
    (arrived,) = agent.received()
    message_id: str = arrived["id"]
    return message_id


def test_a_reply_address_mail_cannot_go_to_is_a_400_naming_the_message(
    live_server: LiveServer,
) -> None:
    agent = Agent(live_server)
    message_id = _receive_raw(live_server, agent, "Reply-To: back@[127.0.0.1]\r\n")
    response = agent.post(f"/messages/{message_id}/reply", {"text": "x"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "message_id"


def test_reply_all_leaves_out_the_inbox_and_what_mail_cannot_go_to(
    live_server: LiveServer,
) -> None:
    agent = Agent(live_server)
    local, _, domain = agent.address.partition("@")
    message_id = _receive_raw(
        live_server,
        agent,
        f"Cc: {local}+news@{domain.upper()}, odd@[10.0.0.1], Other <other@example.com>\r\n",
    )
    response = agent.post(f"/messages/{message_id}/reply", {"text": "x", "reply_all": True})
    assert response.status_code == 201, response.text
    assert response.json()["to"] == ["someone@example.com"]
    assert response.json()["cc"] == ["other@example.com"]


def test_an_idempotency_key_sends_once(live_server: LiveServer) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    body: dict[str, Any] = {"to": [receiver.address], "subject": "once", "text": "x"}
    first = sender.send(idempotency_key="send-1", **body)
    again = sender.send(idempotency_key="send-1", **body)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = sender.send(idempotency_key="send-1", **{**body, "subject": "twice"})
    assert other.status_code == 409 and error_code(other) == "idempotency_key_reused"
    assert len(receiver.received()) == 1
    assert len(sender.get("/sent").json()["data"]) == 1


def _suppress(server: LiveServer, workspace_id: str, address: str) -> None:
    async def insert() -> None:
        engine = create_async_engine(server.database_url)
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(
                t.recipient_suppressions.insert().values(
                    id=f"{abs(hash(address)):032x}"[:32],
                    workspace_id=workspace_id,
                    address=address,
                    reason="bounce",
                    detail="550 5.1.1 user unknown",
                    outbound_message_id=None,
                    created_at=now,
                    updated_at=now,
                )
            )
        await engine.dispose()

    import asyncio

    asyncio.run(insert())


def test_suppressed_recipients_are_refused_listed_and_lifted(live_server: LiveServer) -> None:
    sender = Agent(live_server)
    _suppress(live_server, sender.workspace_id, "gone@example.com")
    refused = sender.send(to=["ok@example.com"], cc=["GONE@example.com"], text="x")
    assert refused.status_code == 422 and error_code(refused) == "recipient_suppressed"
    assert "gone@example.com" in refused.json()["error"]["message"]
    assert refused.json()["error"]["param"] == "cc"
    hidden = sender.send(to=["ok@example.com"], bcc=["Gone <gone@EXAMPLE.com>"], text="x")
    assert hidden.status_code == 422 and hidden.json()["error"]["param"] == "bcc"
    assert sender.get("/sent").json()["data"] == []
    account = bearer(sender.account_key)
    listed = httpx.get(f"{live_server.base_url}/v1/suppressions", headers=account).json()
    assert [s["address"] for s in listed["data"]] == ["gone@example.com"]
    assert listed["data"][0]["reason"] == "bounce"
    assert (
        httpx.get(
            f"{live_server.base_url}/v1/suppressions", headers=bearer(sender.inbox_key)
        ).status_code
        == 403
    )
    lifted = httpx.delete(
        f"{live_server.base_url}/v1/suppressions/gone@example.com", headers=account
    )
    assert lifted.status_code == 200 and lifted.json()["address"] == "gone@example.com"
    again = httpx.delete(
        f"{live_server.base_url}/v1/suppressions/gone@example.com", headers=account
    )
    assert again.status_code == 404
    assert sender.send(to=["gone@example.com"], text="x").status_code == 201
    # Another workspace's suppressions are its own.
    other = Agent(live_server)
    _suppress(live_server, other.workspace_id, "only-theirs@example.com")
    assert sender.send(to=["only-theirs@example.com"], text="x").status_code == 201


def test_memory_is_written_read_and_listed(live_server: LiveServer) -> None:
    agent, stranger = Agent(live_server), Agent(live_server)
    assert agent.get("/memory", key="plan").status_code == 404
    first = agent.post("/memory", {"key": "plan", "value": "step 1"})
    assert first.status_code == 201, first.text
    agent.post("/memory", {"key": "plan", "value": "step 2"})
    agent.post("/memory", {"key": "notes", "value": "hi"})
    read = agent.get("/memory", key="plan").json()
    assert read["value"] == "step 2" and read["key"] == "plan"
    history = agent.get("/memory/history", key="plan").json()["data"]
    assert [e["value"] for e in history] == ["step 2", "step 1"]
    assert [k["key"] for k in agent.get("/memory/keys").json()["data"]] == ["notes", "plan"]
    # Mail from anyone else with that subject is no memory, even "from" the inbox itself.
    stranger.send(to=[agent.address], subject="plan", text="forged")
    httpx.post(
        f"{live_server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": live_server.settings.inbound.token or ""},
        json={"to": agent.address, "from": agent.address, "subject": "plan", "text": "forged"},
    )
    assert agent.get("/memory", key="plan").json()["value"] == "step 2"
    # A memory write is mail: it arrived, in the inbox's memory folder, where it answers no
    # wait and gives no OTP; the forgeries are in the inbox.
    arrived = [(m["subject"], m["folder"]) for m in agent.received()]
    memories = [("plan", "memory"), ("plan", "memory"), ("notes", "memory")]
    assert sorted(arrived) == sorted([*memories, ("plan", "inbox"), ("plan", "inbox")])
    agent.post("/memory", {"key": "pin", "value": "Your code is 135790"})
    otp = agent.get("/otp").json()["otp"]
    assert otp is None or otp["code"] != "135790"
    assert agent.get("/memory").status_code == 400  # no key


MEMORY_BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"key": "plan", "value": ""}, "value"),
    ({"key": "a\nBcc: x@evil.example", "value": "v"}, "key"),
    ({"key": "a\tb", "value": "v"}, "key"),
    ({"key": "   ", "value": "v"}, "key"),
    ({"key": "k" * 256, "value": "v"}, "key"),
    ({"key": "plan"}, "value"),
]


@pytest.mark.parametrize(("body", "param"), MEMORY_BAD_FIELDS)
def test_a_bad_memory_write_names_its_own_field(
    live_server: LiveServer, body: dict[str, Any], param: str
) -> None:
    agent = Agent(live_server)
    response = agent.post("/memory", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert agent.get("/sent").json()["data"] == []


# --- quotas, on a server of their own -----------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def quota_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    url = next(urls)
    settings = make_settings(url, DISPATCH_DAILY_SEND_QUOTA=5, DISPATCH_DAILY_RECIPIENT_QUOTA=3)
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


def test_concurrent_sends_take_exactly_the_quota(quota_server: LiveServer) -> None:
    sender, receiver = Agent(quota_server), Agent(quota_server)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        response = sender.send(to=[receiver.address], text="x")
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 5 + [429] * 7
    refused = next(r for r in results if r.status_code == 429)
    assert error_code(refused) == "quota_exceeded"
    assert refused.json()["error"]["param"] == "daily_sends"
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    assert len(receiver.received()) == 5
    assert len(sender.get("/sent", limit=100).json()["data"]) == 5


def test_distinct_recipients_have_their_own_quota(quota_server: LiveServer) -> None:
    sender = Agent(quota_server)
    ok = sender.send(to=["a@example.com", "b@example.com"], text="x")
    assert ok.status_code == 201
    assert sender.send(to=["a@example.com"], text="again").status_code == 201  # not new
    over = sender.send(to=["c@example.com", "d@example.com"], text="x")
    assert over.status_code == 429 and over.json()["error"]["param"] == "daily_recipients"
    assert "retry-after" in over.headers
    # The refused send took nothing: one more new recipient still fits.
    assert sender.send(to=["c@example.com"], text="x").status_code == 201


async def _quota_row(database_url: str, workspace_id: str) -> sa.Row[Any]:
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(t.workspace_quotas).where(
                    t.workspace_quotas.c.workspace_id == workspace_id
                )
            )
        ).one()
    await engine.dispose()
    return row


def test_a_refused_send_counts_nothing(quota_server: LiveServer) -> None:
    import asyncio

    sender = Agent(quota_server)
    assert sender.send(to=["x@example.com"], text="x").status_code == 201
    assert sender.send(to=["nobody"], text="x").status_code == 400
    row = asyncio.run(_quota_row(quota_server.database_url, sender.workspace_id))
    assert (row.sent_count, row.unique_recipient_count) == (1, 1)


def test_sent_mail_pages_newest_first_and_filters_by_state(live_server: LiveServer) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    ids = [
        sender.send(to=[receiver.address], subject=f"n{i}", text="x").json()["id"] for i in range(4)
    ]
    ids.append(sender.send(to=["far@example.com"], text="x").json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        page = sender.get("/sent", limit=2, **({"cursor": cursor} if cursor else {})).json()
        assert len(page["data"]) <= 2
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    delivered = sender.get("/sent", status="delivered").json()["data"]
    assert [m["id"] for m in delivered] == ids[3::-1]
    assert sender.get("/sent", status="nonsense").status_code == 400
    assert sender.get("/sent/" + "0" * 32).status_code == 404
    # Another inbox's key sees none of it.
    assert receiver.get("/sent").json()["data"] == []


def test_allowed_headers_arrive(live_server: LiveServer) -> None:
    sender, receiver = Agent(live_server), Agent(live_server)
    headers = {
        "X-Campaign": "welcome =?UTF-8?Q?=0A?=X-Evil: 1",
        "List-Unsubscribe": "<https://example.com/unsubscribe?u=1>",
        "Auto-Submitted": "auto-generated",
    }
    sent = sender.send(to=[receiver.address], text="x", headers=headers).json()
    assert sent["headers"] == headers
    (arrived,) = receiver.received()
    raw = receiver.raw(arrived["id"])
    assert raw["X-Campaign"] == headers["X-Campaign"] and raw["X-Evil"] is None
    assert raw["List-Unsubscribe"] == headers["List-Unsubscribe"]
    assert raw["From"] == sender.address


def test_bcc_recipients_with_long_names_are_handed_over(live_server: LiveServer) -> None:
    # Each address is within the limits alone; together their names pass one header's
    # 32 KiB, which the hand-over once read them as (a 500, and a row the outbox never sent).
    sender, receiver = Agent(live_server), Agent(live_server)
    name = "n" * 20_000
    response = sender.send(
        bcc=[f"{name} <{receiver.address}>", f"{name} <far@example.com>"], text="x"
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "sent", response.json()["last_error"]
    assert len(receiver.received()) == 1


def test_an_address_header_too_long_to_read_is_a_400(live_server: LiveServer) -> None:
    # Written, it would be longer than any address header this server (or many others)
    # reads: the local provider itself refused it as unparseable.
    sender, receiver = Agent(live_server), Agent(live_server)
    name = "n" * 20_000
    for field in ("to", "cc", "reply_to"):
        body: dict[str, Any] = {"to": [receiver.address], field: [f"{name} <a@example.com>"]}
        response = sender.send(**body, text="x")
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == field
    assert sender.get("/sent").json()["data"] == []


def test_a_suppression_is_lifted_by_any_spelling_of_its_address(live_server: LiveServer) -> None:
    sender = Agent(live_server)
    account = bearer(sender.account_key)
    _suppress(live_server, sender.workspace_id, "a/b@xn--bcher-kva.example")
    refused = sender.send(to=["A/B@Bücher.example"], text="x")
    assert refused.status_code == 422 and refused.json()["error"]["param"] == "to"
    lifted = httpx.delete(
        f"{live_server.base_url}/v1/suppressions/a/b@bücher.example", headers=account
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["address"] == "a/b@xn--bcher-kva.example"
    assert sender.send(to=["a/b@bücher.example"], text="x").status_code == 201
