"""The mail desk's drafts, in a real browser: a reply saved as a draft (to the sender,
"Re: …", in its thread) and a new message saved without a recipient, both listed; one
edited and sent (then gone, the send in the sent mail), one deleted; an incomplete draft's
send is refused with the send's message and the draft kept; a form sent twice sends once;
another workspace's draft, or an id of any other form, is a 404."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.helpers import bearer, signup
from tests.server.cli.test_commands import DevProcess
from tests.web.test_desk import deliver, desk_for_new_agent


def test_a_reply_and_a_new_message_saved_edited_sent_and_deleted(
    page: Page, dev: DevProcess, console_errors: list[str]
) -> None:
    agent = desk_for_new_agent(page, dev)
    inbox_id = agent["inbox"]["id"]
    deliver(
        dev,
        agent["inbox"]["address"],
        subject="Order 9",
        text="Where?",
        **{"from": "ask@acme.test"},
    )
    page.goto(f"/mail?inbox={inbox_id}")
    page.get_by_role("link", name="Order 9").first.click()
    page.get_by_label("Your reply").fill("Tomorrow.")
    page.get_by_role("button", name="Save as a draft").click()
    expect(page.get_by_role("status")).to_have_text("Draft saved.")
    expect(page.get_by_label("To (addresses separated by commas)")).to_have_value("ask@acme.test")
    expect(page.get_by_label("Subject")).to_have_value("Re: Order 9")
    expect(page.get_by_label("Text")).to_have_value("Tomorrow.")
    # A new draft, no recipient yet: saved, and its send refused as a send is.
    page.get_by_role("link", name="Drafts", exact=True).click()
    page.get_by_label("Subject").fill("Later")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_role("status")).to_have_text("Draft saved.")
    expect(page.locator("#desk-drafts li")).to_have_count(2)
    page.get_by_role("button", name="Send the draft").click()
    expect(page.get_by_role("alert")).to_contain_text("recipient")
    expect(page.locator("#desk-drafts li")).to_have_count(2)
    assert console_errors and all("status of 400" in error for error in console_errors)
    console_errors.clear()
    # Edited and sent: gone from the drafts, in the sent mail.
    page.locator("#desk-drafts a", has_text="Later").click()
    page.get_by_label("To (addresses separated by commas)").fill("ops@example.com")
    page.get_by_label("Text").fill("The report.")
    page.get_by_role("button", name="Send the draft").click()
    expect(page.get_by_role("status")).to_have_text("Draft sent.")
    expect(page.locator("#desk-drafts li")).to_have_count(1)
    sent = httpx.get(
        f"{dev.base_url}/v1/inboxes/{inbox_id}/sent", headers=bearer(agent["inbox_key"])
    ).json()["data"]
    assert [(s["subject"], s["to"], s["text"]) for s in sent] == [
        ("Later", ["ops@example.com"], "The report.")
    ]
    # The reply's draft deleted.
    page.locator("#desk-drafts a", has_text="Re: Order 9").click()
    page.get_by_role("button", name="Delete the draft").click()
    expect(page.get_by_role("status")).to_have_text("Draft deleted.")
    expect(page.get_by_text("No drafts.")).to_be_visible()


def test_a_send_form_posted_twice_sends_once(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    inbox_id = agent["inbox"]["id"]
    draft = httpx.post(
        f"{dev.base_url}/v1/inboxes/{inbox_id}/drafts",
        json={"to": ["ops@example.com"], "text": "once"},
        headers=bearer(agent["inbox_key"]),
    ).json()
    page.goto(f"/mail?inbox={inbox_id}&view=drafts&draft={draft['id']}")
    form = page.locator("form.reply")
    fields: dict[str, str | float | bool] = {
        name: form.locator(f"[name={name}]").input_value()
        for name in ("csrf", "inbox_id", "draft_id", "version", "nonce", "to", "subject", "text")
    }
    url = f"/mail/drafts?inbox={inbox_id}&view=drafts&draft={draft['id']}&do=send"
    first = page.request.post(url, form=fields, max_redirects=0)
    again = page.request.post(url, form=fields, max_redirects=0)
    assert (first.status, again.status) == (303, 303), (first.status, again.status)
    assert "notice=draft_sent" in first.headers["location"]
    assert "notice=already_sent" in again.headers["location"]
    sent = httpx.get(
        f"{dev.base_url}/v1/inboxes/{inbox_id}/sent", headers=bearer(agent["inbox_key"])
    ).json()["data"]
    assert len(sent) == 1


def test_another_workspaces_draft_and_odd_ids_are_404(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    other = signup(dev.base_url)
    theirs = httpx.post(
        f"{dev.base_url}/v1/inboxes/{other['inbox']['id']}/drafts",
        json={"subject": "theirs"},
        headers=bearer(other["inbox_key"]),
    ).json()
    inbox_id = agent["inbox"]["id"]
    assert page.request.get(f"/mail?inbox={other['inbox']['id']}&view=drafts").status == 404
    for odd in (theirs["id"], "x", "ü", "0" * 5000, "00000000-0000-0000-0000-000000000000"):
        answer = page.request.get(f"/mail?inbox={inbox_id}&view=drafts&draft={odd}")
        assert answer.status == 404, odd
