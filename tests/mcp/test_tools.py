"""The MCP tools end to end, through the MCP SDK's own clients against a live server: over
stdio (`dispatch mcp` as a child process) and over the server's streamable HTTP at /mcp."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession

from dispatch_client import Dispatch
from tests.conftest import LiveServer
from tests.helpers import make_mail, signup, smtp_send
from tests.mcp.conftest import call, fail, http_session, stdio_session

pytestmark = pytest.mark.anyio

TOOLS = {
    "whoami",
    "create_inbox",
    "list_inboxes",
    "wait_for_otp",
    "wait_for_link",
    "list_messages",
    "read_message",
    "send_message",
    "reply",
    "create_draft",
    "send_draft",
    "memory_get",
    "memory_set",
    "memory_list",
    "claim_token",
    "confirm_code",
    "list_address_lists",
    "add_to_list",
    "remove_from_list",
}

Opener = Callable[[str], contextlib.AbstractAsyncContextManager[ClientSession]]


@pytest.fixture(params=["stdio", "http"])
def opener(request: pytest.FixtureRequest, live_server: LiveServer, tmp_path: Path) -> Opener:
    """Opens an MCP session acting with a key, over the transport of the parameter."""
    if request.param == "stdio":
        return lambda key: stdio_session(live_server, key, tmp_path)
    return lambda key: http_session(live_server, key)


def deliver(live_server: LiveServer, address: str, **mail: Any) -> None:
    smtp_send(live_server.smtp_host, live_server.smtp_port, address, make_mail(address, **mail))


async def test_tools_are_listed_with_their_input_and_output_schemas(
    live_server: LiveServer, opener: Opener
) -> None:
    async with opener(signup(live_server.base_url)["account_key"]) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.input_schema["type"] == "object"
        assert "ctx" not in tool.input_schema.get("properties", {}), tool.name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
    wait = tools["wait_for_otp"]
    assert wait.input_schema["properties"]["timeout"]["maximum"] == 300
    assert "timeout" in (wait.description or "") and "next_step" in (wait.description or "")
    assert wait.output_schema is not None
    assert {"found", "code", "cursor", "next_step"} <= set(wait.output_schema["properties"])
    assert set(tools["send_message"].input_schema["required"]) == {"to", "subject", "text"}
    assert tools["read_message"].input_schema["required"] == ["message_id"]
    assert tools["list_inboxes"].annotations is not None
    assert tools["list_inboxes"].annotations.read_only_hint is True


async def test_an_agent_signs_up_somewhere_and_does_its_mail(
    live_server: LiveServer, opener: Opener
) -> None:
    created = signup(live_server.base_url)
    key = created["account_key"]
    seen: list[str] = []

    async def tool(name: str, **arguments: Any) -> dict[str, Any]:
        answer = await call(session, name, **arguments)
        seen.append(json.dumps(answer))
        return answer

    async with opener(key) as session:
        me = await tool("whoami")
        assert me["kind"] == "account" and me["key_id"] == key.split(".")[0]

        local_part = f"mcp-{uuid.uuid4().hex[:8]}"
        inbox = await tool("create_inbox", local_part=local_part, display_name="MCP agent")
        assert inbox["address"] == f"{local_part}@dispatch.test"
        listed = await tool("list_inboxes")
        assert {i["id"] for i in listed["inboxes"]} == {created["inbox"]["id"], inbox["id"]}

        # The code the "service" mails, fetched with the server-side wait.
        deliver(live_server, inbox["address"], subject="Your code", text="Your code is 482913")
        got = await tool("wait_for_otp", inbox=inbox["address"], timeout=20)
        assert got["found"] is True and got["code"] == "482913"
        assert got["inbox_id"] == inbox["id"] and got["subject"] == "Your code"
        message_id = got["message_id"]

        # The same code is not given twice: the next wait times out, cleanly.
        again = await tool("wait_for_otp", inbox=inbox["id"], timeout=1)
        assert again["found"] is False and again["code"] is None
        assert "resend" in again["next_step"] and again["cursor"]

        # A newer code arrives: the next wait gets it.
        deliver(live_server, inbox["address"], subject="New code", text="Your code is 990011")
        newer = await tool("wait_for_otp", inbox=inbox["id"], timeout=20)
        assert newer["code"] == "990011"

        deliver(
            live_server,
            inbox["address"],
            subject="Confirm your email",
            html='<p>Welcome!</p><a href="https://acme.test/verify?token=abc123">Confirm</a>',
            text=None,
        )
        link = await tool("wait_for_link", inbox=inbox["id"], timeout=20, subject="confirm")
        assert link["found"] is True and link["link"] == "https://acme.test/verify?token=abc123"

        listing = await tool("list_messages", inbox=inbox["id"])
        assert [m["subject"] for m in listing["messages"]] == [
            "Confirm your email",
            "New code",
            "Your code",
        ]
        assert listing["messages"][2]["has_otp"] is True

        message = await tool("read_message", inbox=inbox["id"], message_id=message_id)
        assert message["otp"] == "482913" and "482913" in message["text"]
        assert message["sender"] == "Acme <no-reply@acme.test>"

        sent = await tool(
            "send_message",
            inbox=inbox["id"],
            to=["someone@example.com"],
            subject="Hello",
            text="Hi from an agent",
        )
        assert sent["to"] == ["someone@example.com"] and sent["subject"] == "Hello"
        assert sent["status"] in {"sent", "delivered", "queued"}
        answered = await tool("reply", inbox=inbox["id"], message_id=message_id, text="Thanks")
        assert answered["in_reply_to"] == message_id
        assert answered["subject"] == "Re: Your code"
        assert answered["to"] == ["no-reply@acme.test"]

        assert (await tool("memory_get", inbox=inbox["id"], key="acme"))["found"] is False
        written = await tool("memory_set", inbox=inbox["id"], key="acme", value="user 4411")
        assert written["found"] is True and written["value"] == "user 4411"
        read = await tool("memory_get", inbox=inbox["id"], key="acme")
        assert read["value"] == "user 4411"
        keys = await tool("memory_list", inbox=inbox["id"])
        assert [k["key"] for k in keys["keys"]] == ["acme"]

        claim = await tool("claim_token", inbox=inbox["id"])
        assert claim["claim_email"] == inbox["address"] and claim["claim_token"]
        assert claim["inbox_id"] == inbox["id"] and "human" in claim["instructions"]

    # What a human does with the token: it claims the agent.
    with Dispatch(base_url=live_server.base_url) as d:
        d.operator.signup(
            email=f"human-{uuid.uuid4().hex[:8]}@example.com", password="a long password 1"
        )
        claimed = d.operator.claim(
            claim_email=claim["claim_email"], claim_token=claim["claim_token"]
        )
        assert claimed.agent_id == claim["agent_id"]
    assert not any(key in text or key.split(".")[1] in text for text in seen)


async def test_an_inbox_key_acts_on_its_own_inbox_without_naming_it(
    live_server: LiveServer, opener: Opener
) -> None:
    created = signup(live_server.base_url)
    address = created["inbox"]["address"]
    async with opener(created["inbox_key"]) as session:
        listed = await call(session, "list_inboxes")
        assert [i["address"] for i in listed["inboxes"]] == [address]
        deliver(live_server, address, text="Your verification code is 314159")
        got = await call(session, "wait_for_otp", timeout=20)
        assert got["code"] == "314159" and got["inbox_id"] == created["inbox"]["id"]
        error = await fail(session, "create_inbox")
        assert "HTTP 403" in error and "account key" in error


async def test_a_wait_that_times_out_says_what_to_do_next(
    live_server: LiveServer, opener: Opener
) -> None:
    created = signup(live_server.base_url)
    address = created["inbox"]["address"]
    deliver(live_server, address, subject="Newsletter", text="No code in here, just news.")
    async with opener(created["account_key"]) as session:
        with anyio.fail_after(15):
            waited = await call(session, "wait_for_otp", timeout=2, from_sender="acme.test")
    assert waited["found"] is False and waited["unmatched_count"] == 1
    assert waited["code"] is None and waited["message_id"] is None
    assert "list_messages" in waited["next_step"] and "resend" in waited["next_step"]


async def test_a_bad_key_is_a_clean_tool_error_naming_the_api_code(
    live_server: LiveServer, tmp_path: Path
) -> None:
    bad = "dk_badbadbad.not-a-real-secret-at-all-000000"
    async with stdio_session(live_server, bad, tmp_path) as session:
        error = await fail(session, "list_inboxes")
    assert "unauthorized" in error and "HTTP 401" in error and "retrying will not help" in error
    assert "not-a-real-secret" not in error and "Traceback" not in error


async def test_the_http_endpoint_refuses_a_request_without_a_valid_key(
    live_server: LiveServer,
) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"accept": "application/json, text/event-stream"}
    for auth in ({}, {"Authorization": "Bearer dk_nope.not-a-real-secret-at-all-000000"}):
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{live_server.base_url}/mcp", json=initialize, headers={**headers, **auth}
            )
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
        assert "not-a-real-secret" not in response.text


async def test_hostile_arguments_are_clean_tool_errors(
    live_server: LiveServer, opener: Opener
) -> None:
    created = signup(live_server.base_url)
    inbox_id = created["inbox"]["id"]
    async with opener(created["account_key"]) as session:
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("read_message", {"message_id": "../../v1/agent/signup"}, "not_found"),
            ("read_message", {"message_id": "msg_nope", "inbox": inbox_id}, "not_found"),
            ("read_message", {"message_id": "x" * 5000}, "message_id"),
            ("read_message", {"message_id": 42}, "message_id"),
            ("wait_for_otp", {"timeout": 10**9}, "timeout"),
            ("wait_for_otp", {"timeout": -1}, "timeout"),
            ("wait_for_otp", {"timeout": "soon"}, "timeout"),
            ("wait_for_otp", {"inbox": "inb_doesnotexist", "timeout": 0}, "not_found"),
            ("wait_for_link", {"after": "not-a-cursor", "timeout": 0}, "cursor"),
            ("list_messages", {"inbox": "nobody@nowhere.test"}, "not_found"),
            ("list_messages", {"limit": 0}, "limit"),
            ("list_messages", {"folder": "secrets"}, "folder"),
            ("send_message", {"to": [], "subject": "s", "text": "t"}, "to"),
            ("send_message", {"to": ["not an address"], "subject": "s", "text": "t"}, "to"),
            ("memory_get", {"key": ""}, "key"),
            ("memory_set", {"key": "k", "value": "v" * 70_000}, "value"),
            ("create_inbox", {"local_part": "../../etc"}, "local_part"),
        ]
        for name, arguments, mentioned in cases:
            error = await fail(session, name, **arguments)
            assert mentioned in error, (name, arguments, error)
            assert "Traceback" not in error and created["account_key"] not in error
        # An unknown tool is an error too; the session goes on working.
        result = await session.call_tool("delete_everything", {})
        assert result.is_error
        assert (await call(session, "whoami"))["kind"] == "account"


async def test_http_calls_with_an_account_key_mint_one_inbox_key_not_one_per_call(
    live_server: LiveServer,
) -> None:
    created = signup(live_server.base_url)
    inbox_id = created["inbox"]["id"]
    with Dispatch(created["account_key"], base_url=live_server.base_url) as d:
        before = len(d.inboxes.keys.list(inbox_id).data)
    async with http_session(live_server, created["account_key"]) as session:
        for _ in range(3):
            await call(session, "memory_get", inbox=inbox_id, key="k")
            await call(session, "list_messages", inbox=inbox_id)
    with Dispatch(created["account_key"], base_url=live_server.base_url) as d:
        assert len(d.inboxes.keys.list(inbox_id).data) == before + 1


async def test_a_long_wait_reports_progress_to_a_client_that_asks(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live server runs in this process: its waits go in rounds of 1 s here.
    monkeypatch.setattr("dispatch_client.mcp._server.ROUND_SECONDS", 1.0)
    created = signup(live_server.base_url)
    reports: list[tuple[float, float | None, str | None]] = []

    async def report(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    async with http_session(live_server, created["account_key"]) as session:
        result = await session.call_tool("wait_for_otp", {"timeout": 3.5}, progress_callback=report)
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["found"] is False
    assert len(reports) >= 2
    assert all(total == 3.5 and message and "otp" in message for _, total, message in reports)
    assert [done for done, _, _ in reports] == sorted(done for done, _, _ in reports)


async def test_dispatch_mcp_uses_the_cli_s_stored_key_and_inbox(
    live_server: LiveServer, tmp_path: Path
) -> None:
    created = signup(live_server.base_url)
    key = created["account_key"]
    with Dispatch(key, base_url=live_server.base_url) as d:
        second = d.inboxes.create()
    (tmp_path / "config.toml").write_text(
        f'base_url = "{live_server.base_url}"\napi_key = "{key}"\n', encoding="utf-8"
    )
    deliver(live_server, second.address, text="Your verification code is 271828")
    async with stdio_session(
        live_server, "", tmp_path, DISPATCH_BASE_URL="", DISPATCH_INBOX=second.address
    ) as session:
        me = await call(session, "whoami")
        assert me["key_id"] == key.split(".")[0]
        got = await call(session, "wait_for_otp", timeout=20)
    assert got["code"] == "271828" and got["inbox_id"] == second.id


def _python(code: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    variables.update(DISPATCH_CONFIG=str(home / "config.toml"), HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=variables,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_dispatch_mcp_without_a_key_stops_before_speaking_mcp(tmp_path: Path) -> None:
    ran = _python(
        "import sys; from dispatch_client.cli import main; sys.exit(main(['mcp']))", tmp_path
    )
    assert (ran.returncode, ran.stdout) == (3, "")
    assert ran.stderr.startswith("error: no API key: run `dispatch signup`")


def test_without_the_mcp_package_the_server_has_no_mcp_route(tmp_path: Path) -> None:
    ran = _python(
        "import sys; sys.modules['mcp'] = None\n"
        "from dispatch_server.http.mcp import mcp_endpoint\n"
        "print(mcp_endpoint())\n"
        "from dispatch_client.cli import main; sys.exit(main(['mcp']))",
        tmp_path,
        DISPATCH_API_KEY="dk_x.not-a-real-secret-at-all-000000",
    )
    assert ran.returncode == 1 and ran.stdout == "None\n"
    assert ran.stderr == (
        "error: the MCP server needs the mcp extra: pip install 'dispatch-client[mcp]'\n"
    )


def restricted_key(live_server: LiveServer, account: dict[str, Any], label: str) -> str:
    minted = httpx.post(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/keys",
        headers={"Authorization": f"Bearer {account['account_key']}"},
        json={"label": label, "permissions": ["read", "wait"], "allowed_senders": ["*@acme.test"]},
    )
    assert minted.status_code == 201, minted.text
    key: str = minted.json()["key"]
    return key


async def test_agents_sharing_an_inbox_each_get_a_code_once(live_server: LiveServer) -> None:
    """The multi-agent recipe through MCP: three agents, each with a narrow key of its own,
    wait on one inbox with consume=true; one code goes to exactly one of them."""
    account = signup(live_server.base_url)
    address = account["inbox"]["address"]
    keys = [restricted_key(live_server, account, f"agent-{n}") for n in range(3)]
    answers: list[dict[str, Any]] = []

    async def agent(key: str) -> None:
        async with http_session(live_server, key) as session:
            me = await call(session, "whoami")
            assert me["restricted"] is True and me["allowed_senders"] == ["*@acme.test"]
            assert sorted(me["permissions"]) == ["read", "wait"]
            answers.append(await call(session, "wait_for_otp", timeout=6, consume=True))

    async with anyio.create_task_group() as agents:
        for key in keys:
            agents.start_soon(agent, key)
        await anyio.sleep(1.5)  # all three are waiting
        deliver(live_server, address, text="Your verification code is 271828")
    found = [a for a in answers if a["found"]]
    assert [a["code"] for a in found] == ["271828"], answers
    assert sum(not a["found"] for a in answers) == 2


async def test_a_leased_code_is_confirmed_or_goes_back(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    address = account["inbox"]["address"]
    deliver(live_server, address, text="Your verification code is 161803")
    async with http_session(live_server, restricted_key(live_server, account, "a")) as first:
        leased = await call(first, "wait_for_otp", timeout=10, consume=True, lease_seconds=60)
        assert leased["code"] == "161803" and leased["lease_id"] and leased["otp_id"]
        assert "confirm_code" in leased["next_step"]
        async with http_session(live_server, restricted_key(live_server, account, "b")) as other:
            waited = await call(other, "wait_for_otp", timeout=1, consume=True)
            assert waited["found"] is False  # leased to the first agent
        kept = await call(
            first, "confirm_code", otp_id=leased["otp_id"], lease_id=leased["lease_id"]
        )
        assert kept["code"] == "161803" and kept["consumed_at"] is not None
        assert "lease_seconds takes consume" in await fail(
            first, "wait_for_otp", timeout=0, lease_seconds=30
        )
        assert "404" in await fail(first, "confirm_code", otp_id="otp_nope", lease_id="x")


async def test_allow_and_block_lists_are_listed_added_and_removed(
    live_server: LiveServer, opener: Opener
) -> None:
    created = signup(live_server.base_url)
    inbox_id, address = created["inbox"]["id"], created["inbox"]["address"]
    async with opener(created["account_key"]) as session:
        everyone = await call(
            session, "add_to_list", pattern="Spam.Example", action="block", direction="receive"
        )
        assert (everyone["pattern"], everyone["inbox_id"]) == ("spam.example", None)
        own = await call(
            session,
            "add_to_list",
            pattern="*.blocked.example",
            action="block",
            direction="send",
            inbox=address,  # an address names the inbox too
        )
        assert own["inbox_id"] == inbox_id and own["direction"] == "send"
        listed = await call(session, "list_address_lists")
        assert [e["id"] for e in listed["entries"]] == [own["id"], everyone["id"]]
        assert listed["next_cursor"] is None
        sends = await call(session, "list_address_lists", direction="send")
        assert [e["id"] for e in sends["entries"]] == [own["id"]]
        mine = await call(session, "list_address_lists", inbox=inbox_id)
        assert [e["id"] for e in mine["entries"]] == [own["id"]]
        paged = await call(session, "list_address_lists", limit=1)
        assert len(paged["entries"]) == 1 and paged["next_cursor"]

        refused = await fail(
            session, "send_message", to=["a@mail.blocked.example"], subject="s", text="t"
        )
        assert "recipient_blocked" in refused and "HTTP 422" in refused
        assert "list_address_lists" in refused and "a@mail.blocked.example" in refused
        again = await fail(
            session, "add_to_list", pattern="spam.example", action="allow", direction="receive"
        )
        assert "list_entry_exists" in again and "remove_from_list" in again

        removed = await call(session, "remove_from_list", entry_id=own["id"])
        assert removed["id"] == own["id"]
        assert "not_found" in await fail(session, "remove_from_list", entry_id=own["id"])
        left = await call(session, "list_address_lists")
        assert [e["id"] for e in left["entries"]] == [everyone["id"]]

    async with opener(created["inbox_key"]) as session:
        seen = await call(session, "list_address_lists")
        assert [e["id"] for e in seen["entries"]] == [everyone["id"]]
        for name, arguments in (
            ("add_to_list", {"pattern": "x.example", "action": "allow", "direction": "send"}),
            ("remove_from_list", {"entry_id": everyone["id"]}),
        ):
            error = await fail(session, name, **arguments)
            assert "forbidden" in error and "HTTP 403" in error and "account key" in error
            assert created["inbox_key"] not in error


async def test_hostile_list_arguments_are_clean_tool_errors(
    live_server: LiveServer, opener: Opener
) -> None:
    created = signup(live_server.base_url)
    other = signup(live_server.base_url)
    with Dispatch(other["account_key"], base_url=live_server.base_url) as d:
        theirs = d.lists.create("x.example", direction="receive", action="block")
    block = {"action": "block", "direction": "receive"}
    async with opener(created["account_key"]) as session:
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("add_to_list", {"pattern": "<script>alert(1)</script>", **block}, "pattern"),
            ("add_to_list", {"pattern": "*.com", **block}, "pattern"),
            ("add_to_list", {"pattern": "x" * 400 + ".example", **block}, "pattern"),
            ("add_to_list", {"pattern": "", **block}, "pattern"),
            (
                "add_to_list",
                {"pattern": "x.example", "action": "maybe", "direction": "send"},
                "action",
            ),
            (
                "add_to_list",
                {"pattern": "x.example", "action": "block", "direction": "up"},
                "direction",
            ),
            ("add_to_list", {"pattern": "x.example", **block, "inbox": "inb_nope"}, "inbox_id"),
            (
                "add_to_list",
                {"pattern": "x.example", **block, "inbox": other["inbox"]["id"]},
                "inbox_id",
            ),
            ("remove_from_list", {"entry_id": theirs.id}, "not_found"),
            ("remove_from_list", {"entry_id": "../../v1/agent/signup"}, "not_found"),
            ("remove_from_list", {"entry_id": "x" * 5000}, "entry_id"),
            ("list_address_lists", {"direction": "sideways"}, "direction"),
            ("list_address_lists", {"limit": 0}, "limit"),
            ("list_address_lists", {"cursor": "not-a-cursor"}, "cursor"),
            ("list_address_lists", {"inbox": "nobody@nowhere.test"}, "not_found"),
        ]
        for name, arguments, mentioned in cases:
            error = await fail(session, name, **arguments)
            assert mentioned in error, (name, arguments, error)
            assert "Traceback" not in error and created["account_key"] not in error
        assert (await call(session, "list_address_lists"))["entries"] == []


async def test_a_draft_is_saved_then_sent_once(live_server: LiveServer, opener: Opener) -> None:
    created = signup(live_server.base_url)
    address = created["inbox"]["address"]
    async with opener(created["inbox_key"]) as session:
        empty = await call(session, "create_draft", to=[], subject="Later")
        assert (empty["to"], empty["version"]) == ([], 1)
        incomplete = await fail(session, "send_draft", draft_id=empty["id"])
        assert "invalid_request" in incomplete and "to" in incomplete
        draft = await call(session, "create_draft", to=[address], subject="Now", text="Hi")
        sent = await call(session, "send_draft", draft_id=draft["id"], idempotency_key="d-1")
        assert (sent["to"], sent["subject"]) == ([address], "Now")
        again = await call(session, "send_draft", draft_id=draft["id"], idempotency_key="d-1")
        assert again["id"] == sent["id"]
        gone = await fail(session, "send_draft", draft_id=draft["id"])
        assert "not_found" in gone
        assert "in_reply_to" in await fail(session, "create_draft", to=[], in_reply_to="nope")
