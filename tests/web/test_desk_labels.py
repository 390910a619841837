"""The desk's state and label controls, in a real browser: a message trashed (out of the
list, in the Trash view) and untrashed, moved to spam and back, labelled and unlabelled,
each change a POST that redirects to the reader with a notice; a bad label is refused in
the page and changes nothing; a form without its CSRF token or for another workspace's
message changes nothing."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.helpers import bearer, signup
from tests.server.cli.test_commands import DevProcess
from tests.web.test_desk import deliver, desk_for_new_agent


def test_trash_spam_and_labels_from_the_reader(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    inbox_id = agent["inbox"]["id"]
    message_id = deliver(dev, agent["inbox"]["address"], subject="Invoice 9", text="Pay")
    deliver(dev, agent["inbox"]["address"], subject="Other", text="x")
    page.goto(f"/mail?inbox={inbox_id}&message={message_id}")
    page.get_by_label("Label", exact=True).fill("Billing")
    page.get_by_role("button", name="Add label").click()
    expect(page.get_by_role("status")).to_have_text("Label added.")
    expect(page.locator(".mail-list [data-label]")).to_have_text(["Billing"])
    page.get_by_role("button", name="Remove the label Billing").click()
    expect(page.get_by_role("status")).to_have_text("Label removed.")
    expect(page.locator("[data-label]")).to_have_count(0)
    page.get_by_role("button", name="Spam", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Moved to spam.")
    expect(page.locator("[data-state]")).to_have_text("spam")
    expect(page.locator(".mail-list li")).to_have_count(1)
    page.get_by_role("button", name="Not spam").click()
    expect(page.locator("[data-state]")).to_have_text("inbox")
    page.get_by_role("button", name="Trash", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Moved to the trash.")
    expect(page.locator("[data-state]")).to_have_text("inbox, in the trash")
    expect(page.locator(".mail-list li")).to_have_count(1)
    page.get_by_role("link", name="Trash", exact=True).click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    expect(page.locator(".mail-list li")).to_have_count(1)
    expect(page.locator(".mail-list")).to_contain_text("Invoice 9")
    page.get_by_role("link", name="Invoice 9").click()
    page.get_by_role("button", name="Untrash").click()
    expect(page.get_by_role("status")).to_have_text("Taken out of the trash.")
    expect(page.locator(".mail-list li")).to_have_count(2)
    shown = httpx.get(
        f"{dev.base_url}/v1/inboxes/{inbox_id}/messages/{message_id}",
        headers=bearer(agent["inbox_key"]),
    ).json()
    assert (shown["folder"], shown["trashed_at"], shown["labels"]) == ("inbox", None, [])


def test_bad_labels_forged_forms_and_other_workspaces_change_nothing(
    page: Page, dev: DevProcess, console_errors: list[str]
) -> None:
    agent = desk_for_new_agent(page, dev)
    inbox_id = agent["inbox"]["id"]
    message_id = deliver(dev, agent["inbox"]["address"], subject="Mine", text="x")
    page.goto(f"/mail?inbox={inbox_id}&message={message_id}")
    page.get_by_label("Label", exact=True).fill("trash")
    page.get_by_role("button", name="Add label").click()
    expect(page.locator(".error, [role=alert]").first).to_contain_text("system name")
    # The refused form's page is a 400: the browser logs it, as expected.
    assert [e for e in console_errors if "400" in e] == console_errors != []
    console_errors.clear()
    form = page.locator("form:has(input[value=label_add])")
    csrf = form.locator("input[name=csrf]").get_attribute("value") or ""
    fields = {"inbox_id": inbox_id, "message_id": message_id, "action": "trash"}
    forged = page.request.post("/mail", form=fields)
    assert forged.status in (400, 403)
    other = signup(dev.base_url)
    theirs = deliver(dev, other["inbox"]["address"], subject="Theirs", text="x")
    for target in (
        {"inbox_id": other["inbox"]["id"], "message_id": theirs},
        {"inbox_id": inbox_id, "message_id": theirs},
        {"inbox_id": inbox_id, "message_id": "ü" * 300},
    ):
        answer = page.request.post("/mail", form={**target, "action": "trash", "csrf": csrf})
        assert answer.status == 404, target
    overlong = page.request.post(
        "/mail", form={**fields, "action": "label_add", "label": "x" * 65, "csrf": csrf}
    )
    assert overlong.status == 400
    for who, inbox, message in (
        (agent, inbox_id, message_id),
        (other, other["inbox"]["id"], theirs),
    ):
        shown = httpx.get(
            f"{dev.base_url}/v1/inboxes/{inbox}/messages/{message}",
            headers=bearer(who["inbox_key"]),
        ).json()
        assert (shown["trashed_at"], shown["labels"]) == (None, [])
