"""The console's allow and block lists page in the browser: an operator adds and removes
entries for the active agent's workspace and each of its inboxes (POST, redirect, GET), and
hostile forms are refused with the API's own message, never a 500, HTML always escaped."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import APIResponse, BrowserContext, Page, expect

from dispatch_client import Dispatch
from tests.helpers import bearer, signup
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import claim_by_key, sign_up_and_verify
from tests.web.test_console_inboxes import HOSTILE_IDS


def _post(context: BrowserContext, fields: dict[str, str]) -> APIResponse:
    token = next(c["value"] for c in context.cookies() if c["name"] == "dispatch_csrf")
    return context.request.post("/console/lists", form={"csrf": token, **fields})


def _api_error(dev: DevProcess, key: str, pattern: str) -> str:
    """The message the API answers a bad pattern with."""
    answer = httpx.post(
        f"{dev.base_url}/v1/lists",
        json={"pattern": pattern, "direction": "receive", "action": "block"},
        headers=bearer(key),
    )
    assert answer.status_code == 400, answer.text
    message: str = answer.json()["error"]["message"]
    return message


def _add(page: Page, pattern: str, action: str, direction: str, scope: str = "") -> None:
    form = page.get_by_role("form", name="Add an entry")
    form.get_by_label("Pattern").fill(pattern)
    form.get_by_label("Action").select_option(action)
    form.get_by_label("Direction").select_option(direction)
    form.get_by_label("For").select_option(scope)
    form.get_by_role("button", name="Add the entry").click()


def test_an_operator_adds_and_removes_entries_for_the_workspace_and_each_inbox(
    page: Page, dev: DevProcess
) -> None:
    sign_up_and_verify(page, dev.base_url)
    agent = signup(dev.base_url, name="listed-agent")
    inbox_id, address = agent["inbox"]["id"], agent["inbox"]["address"]
    claim_by_key(page, agent["account_key"], "listed-agent")
    page.get_by_role("link", name="Allow and block lists").click()
    expect(page).to_have_url(re.compile(r"/console/lists$"))
    everyone = page.get_by_role("region", name="Every inbox")
    own = page.get_by_role("region", name=address)
    expect(everyone).to_contain_text("No entries.")

    _add(page, "Spam.Example", "block", "receive")
    expect(page.get_by_role("status")).to_have_text("blocked spam.example (receive)")
    assert "added=" in page.url  # a redirect: reloading adds nothing again
    page.reload()
    expect(everyone.get_by_role("row", name=re.compile("spam.example"))).to_have_count(1)
    _add(page, "*.Partner.example", "allow", "send", inbox_id)
    expect(page.get_by_role("status")).to_have_text("allowed *.partner.example (send)")
    expect(own.get_by_role("row", name=re.compile(r"\*\.partner\.example"))).to_be_visible()
    expect(everyone).not_to_contain_text("partner")

    with Dispatch(agent["account_key"], base_url=dev.base_url) as d:
        listed = [(e.inbox_id, e.action, e.direction, e.pattern) for e in d.lists.list()]
    assert listed == [
        (inbox_id, "allow", "send", "*.partner.example"),
        (None, "block", "receive", "spam.example"),
    ]

    page.get_by_role("button", name="Remove block spam.example (receive) from every inbox").click()
    expect(page.get_by_role("status")).to_have_text("removed the entry")
    expect(everyone).to_contain_text("No entries.")
    with Dispatch(agent["account_key"], base_url=dev.base_url) as d:
        assert [e.pattern for e in d.lists.list()] == ["*.partner.example"]


def test_hostile_list_forms_are_refused_with_the_api_s_message_and_escaped(
    page: Page, context: BrowserContext, dev: DevProcess, console_errors: list[str]
) -> None:
    sign_up_and_verify(page, dev.base_url)
    mine = signup(dev.base_url, name="guarded-agent")
    claim_by_key(page, mine["account_key"], "guarded-agent")
    page.goto("/console/lists")

    # Bad patterns typed into the form: the API's own message, the typed value kept, any
    # HTML in it shown as text.
    for pattern in ("not a pattern", "*.com", '<b id="bold">x</b>@evil.example'):
        _add(page, pattern, "block", "receive")
        alert = page.get_by_role("alert")
        expect(alert).to_have_text(_api_error(dev, mine["account_key"], pattern))
        expect(page.get_by_role("form", name="Add an entry").get_by_label("Pattern")).to_have_value(
            pattern
        )
    expect(page.locator("#bold")).to_have_count(0)
    assert console_errors and all("status of 400" in error for error in console_errors)
    console_errors.clear()
    script = _post(
        context,
        {
            "action": "add",
            "pattern": "<script>alert(1)</script>",
            "list_action": "block",
            "direction": "receive",
        },
    )
    assert script.status == 400 and "<script>alert" not in script.text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in script.text()

    # The same entry twice: the conflict is said, one entry kept.
    good = {"action": "add", "pattern": "x.example", "list_action": "block", "direction": "send"}
    assert _post(context, good).status == 200  # followed the redirect
    again = _post(context, {**good, "list_action": "allow"})
    assert again.status == 409 and "already" in again.text()

    # Another workspace's entries and inboxes are out of reach.
    other = signup(dev.base_url, name="other-agent")
    with Dispatch(other["account_key"], base_url=dev.base_url) as d:
        theirs = d.lists.create("theirs.example", direction="receive", action="block")
    assert _post(context, {"action": "remove", "entry_id": theirs.id}).status == 404
    scoped = {**good, "pattern": "y.example", "scope": other["inbox"]["id"]}
    refused = _post(context, scoped)
    assert refused.status == 400 and "inbox_id names no inbox" in refused.text()
    with Dispatch(other["account_key"], base_url=dev.base_url) as d:
        assert [e.id for e in d.lists.list()] == [theirs.id]

    # Hostile ids, choices and forms: 4xx, never a 500.
    for value in HOSTILE_IDS:
        assert _post(context, {"action": "remove", "entry_id": value}).status == 404, value
        if value:
            answer = _post(context, {**good, "pattern": "z.example", "scope": value})
            assert answer.status == 400, value
    for name, value in (("direction", "sideways"), ("list_action", "maybe"), ("direction", "")):
        assert _post(context, {**good, "pattern": "w.example", name: value}).status == 400
    assert _post(context, {"action": "launch_rockets"}).status == 400
    forged = context.request.post("/console/lists", form={"csrf": "forged", "action": "add"})
    assert forged.status == 403
    with Dispatch(mine["account_key"], base_url=dev.base_url) as d:
        assert [e.pattern for e in d.lists.list()] == ["x.example"]
    # What the URL says after a redirect is looked up, never shown as given.
    shown = context.request.get("/console/lists", params={"added": "<script>"})
    assert shown.status == 200 and "<script>" not in shown.text()
    page.goto("/console/lists")  # the tab that checks for console errors ends on a good page


def test_signed_out_and_agentless_operators_change_nothing(
    page: Page, context: BrowserContext, dev: DevProcess
) -> None:
    add = {"action": "add", "pattern": "x.example", "list_action": "block", "direction": "send"}
    for answer in (
        context.request.get("/console/lists", max_redirects=0),
        context.request.post("/console/lists", form={**add}, max_redirects=0),
    ):
        assert answer.status == 303 and answer.headers["location"] == "/signup"
    sign_up_and_verify(page, dev.base_url)
    page.goto("/console/lists")
    expect(page.get_by_role("main")).to_contain_text("Claim an agent in the console first")
    expect(page.get_by_role("form", name="Add an entry")).to_have_count(0)
    refused = _post(context, add)
    assert refused.status == 409 and "claim an agent first" in refused.text()
