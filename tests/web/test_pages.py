"""The landing page and the operator's way in: sign up, verify the email with the code
mailed to a Dispatch inbox, reach the console; sessions in HttpOnly cookies; forms refused
without their CSRF token; keyboard only."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from dispatch_client import Dispatch
from tests.helpers import signup
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import PASSWORD


def test_the_landing_page_shows_the_public_metrics(page: Page, dev: DevProcess) -> None:
    response = page.goto("/")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    expect(page.get_by_role("heading", level=1)).to_have_text("Email inboxes for AI agents")
    counts = httpx.get(f"{dev.base_url}/v1/metrics/public").json()
    shown = page.locator("[data-metric=inboxes_created]").inner_text()
    assert int(shown) <= counts["inboxes_created"]
    expect(page.get_by_text("pip install dispatch-client")).to_be_visible()
    assert page.locator("script:not([src])").count() == 0


def test_an_operator_signs_up_verifies_with_the_mailed_code_and_reaches_the_console(
    page: Page, context: BrowserContext, dev: DevProcess
) -> None:
    # The operator's email is a Dispatch inbox, so the code arrives here in dev.
    agent = signup(dev.base_url, local_part=f"operator-{secrets.token_hex(3)}")
    email = agent["inbox"]["address"]
    page.goto("/signup")
    # Keyboard only: the fields are found by their labels, the form sent with Enter.
    page.get_by_label("Email").first.focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
    assert email in page.inner_text("main")

    session = next(c for c in context.cookies() if c["name"] == "dispatch_session")
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"
    assert "dispatch_session" not in page.evaluate("document.cookie")

    with Dispatch(agent["inbox_key"], base_url=dev.base_url) as d:
        code = d.otp.wait_for_otp(agent["inbox"]["id"], timeout=30)
    page.get_by_label("Verification code").fill(code)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console$"))
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/$"))
    assert not [c for c in context.cookies() if c["name"] == "dispatch_session"]
    page.goto("/console")
    expect(page).to_have_url(re.compile(r"/signup$"))

    # Signing in again goes straight to the console.
    page.get_by_label("Email").nth(1).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console$"))


def test_a_wrong_password_is_an_alert_on_the_page(page: Page, console_errors: list[str]) -> None:
    page.goto("/signup")
    page.get_by_label("Email").nth(1).fill("nobody@dispatch.localhost")
    page.get_by_label("Password", exact=True).fill("not the password")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text("the email or the password is wrong")
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
    console_errors.clear()


def test_forms_without_their_csrf_token_are_refused(dev: DevProcess) -> None:
    with httpx.Client(base_url=dev.base_url) as browser_like:
        page = browser_like.get("/signup")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        login = {"action": "login", "email": "a@b.test", "password": "x" * 12}
        for form, cookies in [
            (login, {}),  # a cross-site post: no cookie
            ({**login, "csrf": "forged"}, dict(browser_like.cookies)),
            ({**login, "csrf": token.group(1)}, {}),  # the token without its cookie
        ]:
            answer = httpx.post(f"{dev.base_url}/signup", data=form, cookies=cookies)
            assert answer.status_code == 403, form
            assert "CSRF" in answer.text
        accepted = browser_like.post("/signup", data={**login, "csrf": token.group(1)})
        assert accepted.status_code == 401  # past the CSRF check, to the password check


def test_the_docs_show_a_screenshot_of_every_page() -> None:
    from tests.web.screenshots import OUT, PAGES

    docs = (OUT.parents[1] / "console.md").read_text()
    for name in PAGES:
        assert f"](images/console/{name}.png)" in docs, name
        assert (OUT / f"{name}.png").read_bytes().startswith(b"\x89PNG"), name


def test_a_new_user_signs_up_with_the_dev_inbox_and_reads_the_code_with_the_cli(
    page: Page, dev: DevProcess, tmp_path: Path
) -> None:
    """What `make dev` tells a new user: sign up with the dev inbox, get the code with
    `dispatch mail code`, and land on the console."""
    address = dev._wait_for(r"dev inbox\s+(\S+)").group(1)
    page.goto("/signup")
    page.get_by_label("Email").first.fill(address)
    page.get_by_label("Password (10 characters or more)").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    shown = f"dispatch mail code --inbox {address} --since 10m"
    expect(page.get_by_text(shown)).to_be_visible()
    env = {**os.environ, "DISPATCH_BASE_URL": dev.base_url, "DISPATCH_API_KEY": dev.account_key}
    env["DISPATCH_CONFIG"] = str(tmp_path / "config.toml")
    dispatch = str(Path(sys.executable).parent / "dispatch")
    done = subprocess.run(
        [dispatch, *shown.split()[1:], "--timeout", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    page.get_by_label("Verification code").fill(done.stdout.strip())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/console$"))
