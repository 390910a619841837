"""The console in a real browser: Debian's chromium driven by Playwright, against
`dispatch-server dev` in its own process, as a user opens it."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from dispatch_client import Dispatch
from tests.helpers import bearer, signup
from tests.server.cli.test_commands import DevProcess


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "the browser tests need Debian's chromium: apt-get install chromium"
    return found


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    with DevProcess(tmp_path_factory.mktemp("web-dev")) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, dev: DevProcess) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=dev.base_url)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def console_errors() -> list[str]:
    """The browser console's errors of the test's tab (a test expecting one removes it)."""
    return []


@pytest.fixture
def page(context: BrowserContext, console_errors: list[str]) -> Iterator[Page]:
    """A tab that fails the test on any console error (a CSP violation is one)."""
    opened = context.new_page()
    errors = console_errors
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert errors == [], errors


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return tmp_path


PASSWORD = "correct horse battery"


def sign_up_and_verify(page: Page, base_url: str, local_part: str | None = None) -> str:
    """Sign up in the browser with a new Dispatch inbox's address, verify with the code it
    receives, and land on the console; the operator's email."""
    agent = signup(base_url, local_part=local_part or f"operator-{secrets.token_hex(3)}")
    email: str = agent["inbox"]["address"]
    page.goto("/signup")
    page.get_by_label("Email").first.fill(email)
    page.get_by_label("Password (10 characters or more)").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    with Dispatch(agent["inbox_key"], base_url=base_url) as d:
        code = d.otp.wait_for_otp(agent["inbox"]["id"], timeout=30)
    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/console$"))
    return email


def claim_token(base_url: str, account_key: str) -> dict[str, str]:
    """A claim token the agent of `account_key` mints for its human."""
    answer = httpx.post(f"{base_url}/v1/agent/claim-token", json={}, headers=bearer(account_key))
    assert answer.status_code == 201, answer.text
    token: dict[str, str] = answer.json()
    return token


def claim_with_token(page: Page, token: dict[str, str]) -> None:
    page.get_by_label("Inbox address").fill(token["claim_email"])
    page.get_by_role("textbox", name="Claim token").fill(token["claim_token"])
    page.get_by_role("button", name="Claim with the token").click()


def claim_by_key(page: Page, key: str, name: str) -> None:
    page.get_by_label("Account or inbox key").fill(key)
    page.get_by_role("button", name="Claim with the key").click()
    expect(page.get_by_role("status")).to_contain_text(f"claimed {name}")
