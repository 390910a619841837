"""Every page of the console, keyboard only and labelled: each control has an accessible
name, images have alternative text, a page has one h1, and pressing Tab reaches every
control (nothing is reachable by the mouse alone). An HTML mail's frame is a tab stop only
when the mail has links (Chromium skips a frame with nothing to focus); the reader links to
the HTML in a tab of its own for reading it with the keyboard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from dispatch_client import Dispatch
from tests.helpers import signup
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import claim_by_key, sign_up_and_verify

ADMIN = "a11y-admin"

PROBLEMS = """() => {
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0;
  const named = (el) =>
    (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) ||
    el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (visible(el) && !named(el)) problems.push("unlabelled " + el.outerHTML.slice(0, 90));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    const name = el.textContent.trim() || el.getAttribute("aria-label") || el.title;
    if (visible(el) && !name) problems.push("nameless " + el.outerHTML.slice(0, 90));
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("no alt " + img.outerHTML.slice(0, 90));
  }
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(`${h1} h1 elements`);
  if (!document.documentElement.lang) problems.push("no lang");
  return problems;
}"""

CONTROLS = """() => Array.from(document.querySelectorAll(
  "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, " +
  "textarea"
)).filter((el) => el.getClientRects().length > 0).map((el, i) => {
  el.dataset.a11y = String(i);
  return String(i);
})"""


def tab_reaches_every_control(page: Page) -> list[str]:
    """The controls Tab never focused (empty: every one was reached)."""
    wanted = set(page.evaluate(CONTROLS))
    assert wanted, "a page with no control at all"
    page.locator("body").focus()
    reached: set[str] = set()
    for _ in range(len(wanted) * 2 + 10):
        page.keyboard.press("Tab")
        marker = page.evaluate("() => document.activeElement?.dataset?.a11y ?? null")
        if marker is not None:
            reached.add(marker)
        if reached >= wanted:
            break
    missed = sorted(wanted - reached, key=int)
    return [
        page.evaluate(f"() => document.querySelector('[data-a11y=\"{m}\"]').outerHTML")[:120]
        for m in missed
    ]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    with DevProcess(
        tmp_path_factory.mktemp("a11y-dev"),
        DISPATCH_ADMIN_EMAILS=f"{ADMIN}@dispatch.localhost",
    ) as process:
        yield process


def check(page: Page, url: str) -> None:
    page.goto(url)
    assert page.evaluate(PROBLEMS) == [], url
    assert tab_reaches_every_control(page) == [], url
    assert page.evaluate("() => document.querySelectorAll('[data-a11y]').length") >= 5, url


def test_every_page_is_labelled_and_reachable_by_keyboard(page: Page, dev: DevProcess) -> None:
    check(page, "/")
    check(page, "/signup")
    sign_up_and_verify(page, dev.base_url, local_part=ADMIN)
    agent = signup(dev.base_url, name="a11y-agent")
    claim_by_key(page, agent["account_key"], "a11y-agent")
    inbox_id = agent["inbox"]["id"]
    check(page, "/console")
    check(page, f"/console?keys={inbox_id}")
    check(page, f"/console?otp={inbox_id}")
    check(page, "/ops")
    with Dispatch(agent["account_key"], base_url=dev.base_url) as d:
        d.lists.create("spam.example", direction="receive", action="block")
        d.lists.create("a@x.example", direction="send", action="block", inbox_id=inbox_id)
    check(page, "/console/lists")
    page.goto("/console")
    injector = page.get_by_role("form", name="Deliver a test message (dev)")
    injector.get_by_label("HTML (optional)").fill("<p>Your code is <b>123456</b></p>")
    injector.get_by_role("button", name="Deliver").click()
    with Dispatch(agent["inbox_key"], base_url=dev.base_url) as d:
        (message,) = d.messages.list(inbox_id).data
    check(page, f"/mail?inbox={inbox_id}")
    check(page, f"/mail?inbox={inbox_id}&message={message.id}")
