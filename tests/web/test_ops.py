"""The ops page: an admin sees the inbound health, which refreshes itself, and manages
invite codes; anyone else is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import sign_up_and_verify

ADMIN = "ops-admin"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    with DevProcess(
        tmp_path_factory.mktemp("ops-dev"),
        DISPATCH_ADMIN_EMAILS=f"{ADMIN}@dispatch.localhost",
    ) as process:
        yield process


def test_an_admin_sees_the_health_refreshing_and_manages_invites(
    page: Page, dev: DevProcess
) -> None:
    page.clock.install()
    sign_up_and_verify(page, dev.base_url, local_part=ADMIN)
    page.get_by_role("link", name="Ops").click()
    expect(page).to_have_url(re.compile(r"/ops$"))
    expect(page.get_by_role("heading", name="Inbound health")).to_be_visible()
    status = page.locator("#ops-status")
    expect(status).to_contain_text("No SQS queue")
    before = page.locator("[data-door=smtp]").inner_text()

    # Mail arrives; the page shows it on its next refresh, with no reload.
    page.evaluate("window.__marker = 1")
    httpx.post(
        f"{dev.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": dev_token(dev)},
        json={"to": f"{ADMIN}@dispatch.localhost", "text": "hello"},
    ).raise_for_status()
    with page.expect_response(re.compile(r"/ops/status$")):
        page.clock.fast_forward("00:16")
    expect(page.locator("[data-door=webhook]")).to_have_text(re.compile(r"[1-9]"))
    assert page.evaluate("window.__marker") == 1  # the same document: refreshed in place
    assert page.locator("[data-door=smtp]").inner_text() == before

    page.get_by_label("Label").fill("beta wave 1")
    page.get_by_label("Uses").fill("5")
    page.get_by_role("button", name="Create an invite code").click()
    code = page.locator("[data-invite-code]").inner_text()
    assert len(code) >= 8
    row = page.get_by_role("row", name=re.compile("beta wave 1"))
    expect(row).to_contain_text("0 / 5")
    page.get_by_role("button", name="Revoke beta wave 1").click()
    expect(page.get_by_role("row", name=re.compile("beta wave 1"))).to_contain_text("revoked")
    assert code not in page.content()  # shown once only


def dev_token(dev: DevProcess) -> str:
    found = re.search(r"inbound token\s+(\S+)", dev.output())
    assert found is not None
    return found.group(1)


def test_the_ops_page_refuses_anyone_but_an_admin(
    page: Page, dev: DevProcess, console_errors: list[str]
) -> None:
    sign_up_and_verify(page, dev.base_url)
    expect(page.get_by_role("link", name="Ops")).to_have_count(0)
    answer = page.goto("/ops")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Admins only")
    assert page.request.get("/ops/status").status == 403
    console_errors.clear()  # the 403 document itself
    signed_out = httpx.get(f"{dev.base_url}/ops", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/signup"
    assert httpx.get(f"{dev.base_url}/ops/status").status_code == 401
