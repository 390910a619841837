"""The console in a real browser: Debian's chromium driven by Playwright, against
`dispatch-server dev` in its own process, as a user opens it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.server.cli.test_commands import DevProcess


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "the browser tests need Debian's chromium: apt-get install chromium"
    return found


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    process = DevProcess(tmp_path_factory.mktemp("web-dev"))
    try:
        yield process
    finally:
        process.stop()


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
