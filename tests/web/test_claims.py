"""Claiming agents in the console: by claim token, by API key, refused tokens, and choosing
the agent the operator acts for."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.helpers import signup
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import claim_token, claim_with_token, sign_up_and_verify


def test_claim_by_token_and_by_key_then_switch_the_active_agent(
    page: Page, dev: DevProcess, console_errors: list[str]
) -> None:
    sign_up_and_verify(page, dev.base_url)
    first = signup(dev.base_url, name="first-agent")
    token = claim_token(dev.base_url, first["account_key"])
    claim_with_token(page, token)
    expect(page.get_by_role("status")).to_contain_text("claimed first-agent")
    row = page.get_by_role("row", name="first-agent")
    expect(row).to_contain_text(first["inbox"]["address"])
    expect(row).to_contain_text("active")

    # The same token again: refused on the page.
    page.get_by_label("Inbox address").fill(token["claim_email"])
    page.get_by_role("textbox", name="Claim token").fill(token["claim_token"])
    page.get_by_role("button", name="Claim with the token").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert all("status of 4" in error for error in console_errors)
    console_errors.clear()

    second = signup(dev.base_url, name="second-agent")
    page.get_by_label("Account or inbox key").fill(second["account_key"])
    page.get_by_role("button", name="Claim with the key").click()
    expect(page.get_by_role("status")).to_contain_text("claimed second-agent")
    # The claim's fresh keys are the operator's, shown once, never the agent's own.
    shown = page.locator("[data-key=account]").inner_text()
    assert shown.count(".") == 1 and shown != second["account_key"]
    page.goto("/console")
    expect(page.locator("[data-key=account]")).to_have_count(0)

    page.get_by_role("button", name="Act for first-agent").click()
    expect(page.get_by_role("status")).to_have_text("now acting for first-agent")
    expect(page.get_by_role("row", name="first-agent")).to_contain_text("active")
    expect(page.get_by_role("button", name="Act for second-agent")).to_be_visible()
