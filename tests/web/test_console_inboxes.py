"""The console's work for the active agent, in the browser: inboxes, keys, the latest OTP,
sending, the dev injector, the upgrade when the billing gate refuses, and hostile forms."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from dispatch_client import AuthenticationError, Dispatch
from tests.chain.evm import EvmChain
from tests.helpers import signup
from tests.paid_dev import paid_dev as paid_dev_process
from tests.server.cli.test_commands import DevProcess
from tests.stripe_server import StripeServer
from tests.web.conftest import claim_by_key, sign_up_and_verify


def test_inject_otp_keys_and_send_for_the_active_agent(
    page: Page, context: BrowserContext, dev: DevProcess
) -> None:
    sign_up_and_verify(page, dev.base_url)
    agent = signup(dev.base_url, name="worker-agent")
    address, inbox_id = agent["inbox"]["address"], agent["inbox"]["id"]
    claim_by_key(page, agent["account_key"], "worker-agent")
    page.goto("/console")
    inboxes = page.get_by_role("region", name="Inboxes of worker-agent")
    expect(inboxes.get_by_role("row", name=re.compile(re.escape(address)))).to_be_visible()

    # No OTP yet; then a test message through the dev injector, and the code is there.
    page.get_by_role("link", name=f"Latest OTP of {address}").click()
    expect(page.locator("#otp")).to_contain_text("No OTP in this inbox yet")
    injector = page.get_by_role("form", name="Deliver a test message (dev)")
    injector.get_by_label("To").select_option(inbox_id)
    injector.get_by_label("Subject").fill("Sign in to Example")
    injector.get_by_label("Text").fill("Your Example sign-in code is 731946. It expires soon.")
    injector.get_by_role("button", name="Deliver").click()
    expect(page.get_by_role("status")).to_have_text(f"delivered a test message to {address}")
    page.get_by_role("link", name=f"Latest OTP of {address}").click()
    expect(page.locator("[data-otp]")).to_have_text("731946")
    expect(page.locator("#otp")).to_contain_text("Sign in to Example")
    with Dispatch(agent["inbox_key"], base_url=dev.base_url) as d:
        latest = d.otp.latest(inbox_id)
        assert latest is not None and latest.code == "731946"

    # A new inbox key: shown once, it works, and revoked it does not.
    page.get_by_role("link", name=f"Keys of {address}").click()
    page.get_by_label("Label of a new key (optional)").fill("from the console")
    page.get_by_role("button", name="Mint an inbox key").click()
    minted = page.locator("[data-key=minted]").inner_text()
    with Dispatch(minted, base_url=dev.base_url) as d:
        assert d.auth.me().inbox_id == inbox_id
    page.goto(f"/console?keys={inbox_id}")
    expect(page.locator("[data-key=minted]")).to_have_count(0)
    key_id = minted.partition(".")[0]
    page.get_by_role("button", name=f"Revoke the key {key_id}").click()
    expect(page.locator("#keys")).not_to_contain_text(key_id)
    with Dispatch(minted, base_url=dev.base_url) as d, pytest.raises(AuthenticationError):
        d.auth.me()

    # Sending: the notice says what became of it, and the API lists the same message.
    sender = page.get_by_role("form", name="Send mail")
    sender.get_by_label("From").select_option(inbox_id)
    sender.get_by_label("To (commas between addresses)").fill("someone@example.com")
    sender.get_by_label("Subject").fill("Hello from the console")
    sender.get_by_label("Text").fill("Sent with a click.")
    nonce = sender.locator("input[name=nonce]").get_attribute("value") or ""
    sender.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("mail to someone@example.com is")
    assert "sent=" in page.url  # answered with a redirect: a reload sends nothing again
    page.reload()
    # The same rendered form replayed (the back button, a retry): not sent again.
    fields = {"action": "send", "nonce": nonce, "inbox_id": inbox_id}
    fields |= {"to": "someone@example.com", "subject": "Again", "text": "Sent with a click."}
    assert _form_post(context, fields) == 200
    page.goto("/console?already_sent=1")
    expect(page.get_by_role("status")).to_have_text(
        "this mail was already sent: it was not sent again"
    )
    with Dispatch(agent["inbox_key"], base_url=dev.base_url) as d:
        sent = d.sent.list(inbox_id).data
    assert [m.subject for m in sent] == ["Hello from the console"]

    # A second inbox (dev does not enforce the upgrade).
    page.get_by_label("Address before the @ (optional: a random one)").fill("second-box")
    page.get_by_role("button", name="Create the inbox").click()
    expect(page.get_by_role("status")).to_contain_text("created the inbox second-box@")
    expect(inboxes.get_by_role("row", name=re.compile("second-box@"))).to_be_visible()


def test_refused_forms_say_why_on_the_page(
    page: Page, dev: DevProcess, console_errors: list[str]
) -> None:
    sign_up_and_verify(page, dev.base_url)
    agent = signup(dev.base_url, name="careful-agent")
    claim_by_key(page, agent["account_key"], "careful-agent")
    page.get_by_label("Address before the @ (optional: a random one)").fill("postmaster")
    page.get_by_role("button", name="Create the inbox").click()
    expect(page.get_by_role("alert")).to_contain_text("reserved")
    sender = page.get_by_role("form", name="Send mail")
    sender.get_by_label("To (commas between addresses)").fill("not an address")
    sender.get_by_label("Text").fill("x")
    sender.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert console_errors and all("status of 4" in error for error in console_errors)
    console_errors.clear()


HOSTILE_IDS = [
    "",
    "x" * 5000,
    "in_\x00nul",
    "../../v1/inboxes",
    "' OR 1=1 --",
    "😀" * 40,
    "%00",
    "00000000-0000-0000-0000-000000000000",
]


HOSTILE_TEXTS = [
    "",
    "\x00",
    "line\r\nBcc: victim@evil.example",
    "=?UTF-8?Q?=0D=0A?=X-Injected: yes",
    "😀" * 2000,
    "x" * 5000,
    "<script>alert(1)</script>",
]


def _form_post(context: BrowserContext, fields: dict[str, str]) -> int:
    token = next(c["value"] for c in context.cookies() if c["name"] == "dispatch_csrf")
    answer = context.request.post("/console", form={"csrf": token, **fields})
    return answer.status


def test_hostile_ids_and_forms_are_refused_never_a_500(
    page: Page, context: BrowserContext, dev: DevProcess
) -> None:
    sign_up_and_verify(page, dev.base_url)
    mine = signup(dev.base_url, name="hostile-agent")
    claim_by_key(page, mine["account_key"], "hostile-agent")
    other = signup(dev.base_url, name="someone-else")  # an inbox of another workspace
    for value in [*HOSTILE_IDS, other["inbox"]["id"]]:
        for query in ("keys", "otp"):
            answer = context.request.get("/console", params={query: value})
            # NUL is refused before any route (400); every other value is no inbox here.
            assert answer.status == (400 if "\x00" in value else 404), (query, value)
        for action in ("mint_key", "revoke_key", "send", "inject"):
            fields = {"action": action, "inbox_id": value, "key_id": value, "to": "a@b.example"}
            fields["nonce"] = secrets.token_urlsafe(32)
            fields["text"] = "hello"
            assert _form_post(context, fields) == 404, (action, value)
    # Hostile text in what is composed into mail: refused or sent clean, never a 500, and
    # never an extra header in the stored message.
    inbox_id = mine["inbox"]["id"]
    for text in HOSTILE_TEXTS:
        for action in ("send", "inject"):
            fields = {"action": action, "inbox_id": inbox_id, "to": "peer@example.com"}
            fields["nonce"] = secrets.token_urlsafe(32)
            fields |= {"subject": text, "from": text, "text": text or "body"}
            assert _form_post(context, fields) in (200, 400), (action, text)
    with Dispatch(mine["inbox_key"], base_url=dev.base_url) as d:
        for summary in d.messages.list(inbox_id).data:
            raw = d.messages.raw(inbox_id, summary.id)
            assert b"\nBcc:" not in raw and b"\nX-Injected:" not in raw
    # Another workspace's key id through my inbox: not found either.
    assert (
        _form_post(
            context,
            {
                "action": "revoke_key",
                "inbox_id": mine["inbox"]["id"],
                "key_id": other["inbox"]["id"],
            },
        )
        == 404
    )
    # Forged, oversized, unknown and wrongly encoded forms.
    answer = context.request.post("/console", form={"csrf": "forged", "action": "send"})
    assert answer.status == 403
    big = {"action": "send", "inbox_id": mine["inbox"]["id"], "text": "x" * 600_000}
    assert _form_post(context, big) == 413
    assert _form_post(context, {"action": "launch_rockets"}) == 400
    assert _form_post(context, {"action": "create_inbox", "display_name": "n" * 201}) == 400
    assert _form_post(context, {"action": "send", "inbox_id": mine["inbox"]["id"]}) == 400
    no_nonce = {"action": "send", "inbox_id": mine["inbox"]["id"], "to": "a@b.example"}
    for nonce in ("", "short", "x" * 43 + "!", "😀" * 43):
        assert _form_post(context, {**no_nonce, "text": "hi", "nonce": nonce}) == 400
    # What the URL says after a redirect is looked up, never shown as given.
    answer = context.request.get(
        "/console", params={"sent": "<script>", "inbox": mine["inbox"]["id"]}
    )
    assert answer.status == 200 and "<script>" not in answer.text()
    page.goto("/console")  # the tab that checks for console errors ends on a good page


@pytest.fixture(scope="module")
def paid_dev(
    tmp_path_factory: pytest.TempPathFactory, evm_chain: EvmChain
) -> Iterator[tuple[DevProcess, StripeServer]]:
    """A dev server that enforces the upgrade, with Stripe (a local server answering in
    Stripe's format) and an x402 rail on the local EVM chain."""
    with paid_dev_process(tmp_path_factory.mktemp("paid-web-dev"), evm_chain) as paid:
        yield paid.process, paid.stripe


def test_the_gate_offers_card_and_on_chain_payment(
    browser: Browser, paid_dev: tuple[DevProcess, StripeServer]
) -> None:
    dev, stripe = paid_dev
    context = browser.new_context(base_url=dev.base_url)
    try:
        page = context.new_page()
        sign_up_and_verify(page, dev.base_url)
        agent = signup(dev.base_url, name="thrifty-agent")
        claim_by_key(page, agent["account_key"], "thrifty-agent")
        page.get_by_role("button", name="Create the inbox").click()
        upgrade = page.locator("#upgrade")
        expect(upgrade).to_contain_text("needs the multi_inbox upgrade")
        expect(upgrade).to_contain_text("Pay on chain (anvil, x402)")
        expect(upgrade).to_contain_text(re.compile(r"dispatch billing confirm [0-9a-f-]{36} "))
        page.get_by_role("button", name=re.compile(r"^Pay .* by card \(Stripe\)$")).click()
        link = page.get_by_role("link", name="Continue to Stripe Checkout")
        href = link.get_attribute("href") or ""
        assert len(stripe.sessions) == 1
        (session,) = stripe.sessions.values()
        assert href == session["url"]
        assert session["metadata"]["workspace_id"] == agent["workspace"]["id"]
    finally:
        context.close()


def test_a_new_workspace_is_the_operators_and_active(
    page: Page, dev: DevProcess, console_errors: list[str]
) -> None:
    sign_up_and_verify(page, dev.base_url)
    form = page.get_by_role("form", name="Start a new workspace")
    first_inbox = form.get_by_label("First inbox, the part before the @ (optional: a random one)")
    form.get_by_label("Agent name (optional)").fill("fresh-agent")
    first_inbox.fill("fresh-box")
    form.get_by_role("button", name="Create the workspace").click()
    expect(page.get_by_role("status")).to_contain_text("created fresh-agent (fresh-box@")
    account_key = page.locator("[data-key=account]").inner_text()
    with Dispatch(account_key, base_url=dev.base_url) as d:
        assert [inbox.address.split("@")[0] for inbox in d.inboxes.list().data] == ["fresh-box"]
    inboxes = page.get_by_role("region", name="Inboxes of fresh-agent")
    expect(inboxes.get_by_role("row", name=re.compile("fresh-box@"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^fresh-agent"))).to_contain_text("active")
    # The same address again is refused, and no second workspace is left behind.
    first_inbox.fill("fresh-box")
    form.get_by_role("button", name="Create the workspace").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^fresh-agent"))).to_have_count(1)
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 409 (Conflict)"
    ]
    console_errors.clear()
