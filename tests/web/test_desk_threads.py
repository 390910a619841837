"""The mail desk by thread, in a real browser: a message, the desk's reply to it and the
customer's answer listed as one thread with its counts; a thread opened lists its messages,
received and sent, oldest first, and a received one opens in the reader (read from then on);
another workspace's thread, or an id of any other form, is a 404."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.helpers import signup
from tests.server.cli.test_commands import DevProcess
from tests.web.test_desk import deliver, desk_for_new_agent


def test_the_desk_shows_mail_by_thread(page: Page, dev: DevProcess) -> None:
    agent: dict[str, Any] = desk_for_new_agent(page, dev)
    address = agent["inbox"]["address"]
    deliver(
        dev,
        address,
        subject="Order 7",
        text="Where is it?",
        headers={"Message-ID": "<order7@acme.test>"},
        **{"from": "ask@acme.test"},
    )
    deliver(dev, address, subject="Other", text="Unrelated")
    page.goto(f"/mail?inbox={agent['inbox']['id']}")
    page.get_by_role("link", name="Order 7").first.click()
    page.get_by_label("Your reply").fill("On its way.")
    page.get_by_role("button", name="Send the reply").click()
    expect(page.get_by_role("status")).to_have_text("Reply sent.")
    page.get_by_role("link", name="Threads", exact=True).click()
    threads = page.locator("#desk-threads li")
    expect(threads).to_have_count(2)
    order = page.locator("#desk-threads a", has_text="Order 7")
    expect(order).to_contain_text("(2)")
    order.click()
    messages = page.locator(".thread-messages li")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_contain_text("Where is it?")
    expect(messages.nth(1)).to_contain_text("Sent to")
    expect(messages.nth(1)).to_contain_text("On its way.")
    messages.nth(0).get_by_role("link").click()
    expect(page.get_by_role("heading", name="Order 7")).to_be_visible()


def test_another_workspaces_thread_and_odd_ids_are_404(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    other = signup(dev.base_url)
    deliver(dev, other["inbox"]["address"], subject="Theirs", text="x")
    inbox_id = agent["inbox"]["id"]
    theirs = page.request.get(f"/mail?inbox={other['inbox']['id']}&view=threads")
    assert theirs.status == 404
    for odd in ("x", "ü", "0" * 5000, "00000000-0000-0000-0000-000000000000"):
        answer = page.request.get(f"/mail?inbox={inbox_id}&view=threads&thread={odd}")
        assert answer.status == 404, odd
