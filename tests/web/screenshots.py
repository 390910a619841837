"""Screenshots of the console's pages for the docs, taken in the same headless Chromium the
tests use, against a fresh `dispatch-server dev`: `make screenshots` writes them to
docs/images/console/."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.helpers import signup
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import chromium_path, sign_up_and_verify

ADMIN = "ada"
PAGES = ("landing", "signup", "console", "mail", "ops")
OUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "console"

HTML_MAIL = """<table width="100%"><tr><td align="center">
<h1 style="color:#2457d6">Welcome to Example</h1>
<p>Confirm your address to finish signing up.</p>
<p><a href="https://example.com/confirm?t=8d1f" style="background:#2457d6;color:#fff;
padding:10px 18px;border-radius:4px;text-decoration:none">Confirm my email</a></p>
<img src="https://tracker.example/open.gif" width="1" height="1" alt="">
</td></tr></table>"""


def deliver(page: Page, inbox_id: str, sender: str, subject: str, text: str, html: str) -> None:
    page.goto("/console")
    form = page.get_by_role("form", name="Deliver a test message (dev)")
    form.get_by_label("To").select_option(inbox_id)
    form.get_by_label("From").fill(sender)
    form.get_by_label("Subject").fill(subject)
    form.get_by_label("Text").fill(text)
    form.get_by_label("HTML (optional)").fill(html)
    form.get_by_role("button", name="Deliver").click()


def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    with (
        tempfile.TemporaryDirectory() as home,
        DevProcess(Path(home), DISPATCH_ADMIN_EMAILS=f"{ADMIN}@dispatch.localhost") as dev,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(base_url=dev.base_url, viewport={"width": 1200, "height": 860})

        def shot(name: str) -> None:
            # The page's whole height as the viewport: a full-page capture leaves a
            # sandboxed frame (another process) blank.
            page.set_viewport_size({"width": 1200, "height": 860})
            height = page.evaluate("() => document.documentElement.scrollHeight")
            page.set_viewport_size({"width": 1200, "height": height})
            path = out / f"{name}.png"
            page.screenshot(path=str(path))
            taken.append(path)

        page.goto("/")
        shot("landing")
        page.goto("/signup")
        shot("signup")
        sign_up_and_verify(page, dev.base_url, local_part=ADMIN)
        agent = signup(dev.base_url, name="research-agent", local_part="research-agent")
        page.get_by_label("Account or inbox key").fill(agent["account_key"])
        page.get_by_role("button", name="Claim with the key").click()
        inbox_id = agent["inbox"]["id"]
        deliver(
            page,
            inbox_id,
            "Example <no-reply@example.com>",
            "Welcome to Example",
            "Confirm your address: https://example.com/confirm?t=8d1f",
            HTML_MAIL,
        )
        deliver(
            page,
            inbox_id,
            "GitHub <noreply@github.com>",
            "Your GitHub launch code",
            "Here is your GitHub launch code: 48213907",
            "",
        )
        page.goto(f"/console?otp={inbox_id}")
        shot("console")
        page.goto(f"/mail?inbox={inbox_id}")
        page.locator("a[data-message-id]", has_text="Welcome to Example").click()
        page.frame_locator("iframe.mail-body").get_by_text("Confirm my email").wait_for()
        shot("mail")
        page.goto("/ops")
        shot("ops")
        browser.close()
    return taken


if __name__ == "__main__":
    for path in take(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(path)
