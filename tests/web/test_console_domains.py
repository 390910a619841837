"""The console's custom domains, in the browser: a domain added (and a bad name refused), its
records shown, published in the tests' DNS server, checked until verified, and an inbox
created at it."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from tests.dns_server import shared_dns
from tests.helpers import signup
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import claim_by_key, sign_up_and_verify


def test_add_check_and_create_an_inbox_at_a_domain(
    page: Page, dev: DevProcess, console_errors: list[str]
) -> None:
    sign_up_and_verify(page, dev.base_url)
    agent = signup(dev.base_url, name="domain-agent")
    claim_by_key(page, agent["account_key"], "domain-agent")
    page.goto("/console")
    domains = page.get_by_role("region", name="Custom domains")

    adder = page.get_by_role("form", name="Add a domain")
    adder.get_by_label("Domain name").fill("10.0.0.1")
    adder.get_by_role("button", name="Add the domain").click()
    expect(page.get_by_role("alert")).to_contain_text("an IP address")
    assert console_errors and all("status of 400" in error for error in console_errors)
    console_errors.clear()

    name = f"web-{secrets.token_hex(4)}.example.com"
    page.get_by_role("form", name="Add a domain").get_by_label("Domain name").fill(name.upper())
    page.get_by_role("form", name="Add a domain").get_by_role(
        "button", name="Add the domain"
    ).click()
    expect(page.get_by_role("status")).to_contain_text(f"added {name}")
    card = domains.get_by_role("article", name=re.compile(re.escape(name)))
    expect(card.locator("[data-domain-status]")).to_have_text("pending")
    expect(card.get_by_role("row", name=re.compile(f"_dispatch.{re.escape(name)}"))).to_be_visible()

    # Publish the ownership TXT and the MX the card shows, then check: verified.
    token = card.get_by_role("row", name=re.compile("ownership")).locator("code").nth(1)
    dns = shared_dns()
    dns.add_txt(f"_dispatch.{name}", token.inner_text())
    mx = card.get_by_role("row", name=re.compile("receiving")).locator("code").nth(1)
    dns.add(name, "MX", mx.inner_text() + ".")
    card.get_by_role("button", name=f"Check the records of {name}").click()
    expect(page.get_by_role("status")).to_contain_text(f"checked {name}: it is verified")
    card = page.get_by_role("article", name=re.compile(re.escape(name)))
    expect(card.locator("[data-domain-status]")).to_have_text("verified")
    expect(card.get_by_role("row", name=re.compile("ownership"))).to_contain_text("ok")

    creator = page.get_by_role("form", name="Create an inbox")
    creator.get_by_label("Address before the @ (optional: a random one)").fill("web-bot")
    creator.get_by_label("Domain").select_option(name)
    creator.get_by_role("button", name="Create the inbox").click()
    expect(page.get_by_role("status")).to_have_text(f"created the inbox web-bot@{name}")
