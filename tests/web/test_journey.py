"""The operator's whole path in the browser: sign up, verify with the mailed code, claim an
agent by its claim token, read the OTP a service mailed it over SMTP, and reply."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from dispatch_client import Dispatch
from tests.helpers import make_mail, signup, smtp_send
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import claim_token, claim_with_token, sign_up_and_verify


def test_signup_verify_claim_read_the_otp_and_reply(page: Page, dev: DevProcess) -> None:
    sign_up_and_verify(page, dev.base_url)

    # The agent signed up on its own, and hands its human a claim token.
    agent = signup(dev.base_url, name="shopping-agent")
    address, inbox_id = agent["inbox"]["address"], agent["inbox"]["id"]
    token = claim_token(dev.base_url, agent["account_key"])
    claim_with_token(page, token)
    expect(page.get_by_role("status")).to_contain_text("claimed shopping-agent")

    # A shop mails the agent a code, through the real SMTP door.
    mail = make_mail(
        address,
        subject="Your Shop login code",
        text="Your Shop verification code is 604213. It expires in 10 minutes.",
        sender="Shop <security@shop.example>",
    )
    assert smtp_send("127.0.0.1", dev.smtp_port, address, mail, "security@shop.example") == {}

    page.get_by_role("link", name=f"Latest OTP of {address}").click()
    expect(page.locator("[data-otp]")).to_have_text("604213")
    page.get_by_role("link", name="Open the message").click()
    expect(page).to_have_url(re.compile(r"/mail\?"))
    reader = page.get_by_role("region", name="Your Shop login code")
    expect(reader.locator("[data-message-otp]")).to_have_text("604213")

    reader.get_by_label("Your reply").fill("Thanks, signed in.")
    reader.get_by_role("button", name="Send the reply").click()
    expect(page.get_by_role("status").filter(has_text="Reply sent.")).to_be_visible()

    with Dispatch(agent["inbox_key"], base_url=dev.base_url) as d:
        (reply,) = d.sent.list(inbox_id).data
        received = d.messages.list(inbox_id).data[0]
    assert reply.to == ("security@shop.example",)
    assert reply.subject == "Re: Your Shop login code"
    assert reply.in_reply_to == received.id
