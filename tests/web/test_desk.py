"""The mail desk in a real browser: live new mail, HTML mail isolated (no script, no remote
load until asked), read state, search, reply once per form, and 404s across workspaces."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import bearer, signup
from tests.server.cli.test_commands import DevProcess
from tests.web.conftest import sign_up_and_verify

PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs="


def inbound_token(dev: DevProcess) -> str:
    found = re.search(r"inbound token\s+(\S+)", dev.output())
    assert found, dev.output()
    return found.group(1)


def deliver(dev: DevProcess, to: str, **body: Any) -> str:
    response = httpx.post(
        f"{dev.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": inbound_token(dev)},
        json={"to": to, **body},
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["deliveries"][0]["message_id"]
    return message_id


def desk_for_new_agent(page: Page, dev: DevProcess) -> dict[str, Any]:
    """Sign up, claim a new agent by its key, and open its inbox's desk."""
    sign_up_and_verify(page, dev.base_url)
    agent = signup(dev.base_url)
    page.get_by_label("Account or inbox key").fill(agent["account_key"])
    page.get_by_role("button", name="Claim with the key").click()
    expect(page.get_by_role("status")).to_contain_text("claimed")
    page.goto("/mail")
    expect(page.get_by_role("heading", name="Mail", exact=True)).to_be_visible()
    return agent


def recorder(hits: list[str]) -> type[BaseHTTPRequestHandler]:
    """A handler that answers a pixel and records each path asked."""

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/gif")
            self.end_headers()
            self.wfile.write(base64.b64decode(PIXEL.partition(",")[2]))

        def log_message(self, *args: object) -> None:
            pass

    return Recorder


@pytest.fixture
def image_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder(hits))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_new_mail_appears_live_and_read_state(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    address = agent["inbox"]["address"]
    expect(page.get_by_text("No mail yet.")).to_be_visible()
    page.wait_for_timeout(500)  # the event stream is open
    deliver(dev, address, subject="Live arrival", text="it came by itself")
    item = page.get_by_role("link", name=re.compile("Live arrival"))
    expect(item).to_be_visible(timeout=15_000)
    expect(page.locator("#desk-live")).to_have_text(re.compile("New mail"))
    expect(page.locator(".mail-list li.unread")).to_have_count(1)
    expect(item).to_contain_text("unread")

    item.click()
    expect(page.get_by_role("heading", name="Live arrival")).to_be_visible()
    expect(page.locator(".mail-text")).to_have_text("it came by itself\n")
    expect(page.locator(".mail-list a[aria-current=true]")).to_have_count(1)
    expect(page.locator(".mail-list li.unread")).to_have_count(0)

    page.get_by_role("button", name="Mark unread").click()
    expect(page.get_by_role("status")).to_have_text("Marked unread.")
    expect(page.locator(".mail-list li.unread")).to_have_count(1)


def test_html_mail_runs_no_script_and_loads_nothing_remote_until_asked(
    page: Page, dev: DevProcess, image_server: tuple[str, list[str]]
) -> None:
    remote, hits = image_server
    agent = desk_for_new_agent(page, dev)
    html = (
        "<p id=hello>Hello <b>there</b></p>"
        "<script>document.title='pwned'; parent.document.title='pwned'; fetch('/x')</script>"
        f'<img src="{PIXEL}" onerror="document.title=\'pwned\'">'
        "<a id=bad href=\"javascript:document.title='pwned'\">bad</a>"
        f'<img id=remote src="{remote}/pixel.gif" alt=pixel>'
    )
    message_id = deliver(dev, agent["inbox"]["address"], subject="Hostile", html=html)
    page.goto(f"/mail?inbox={agent['inbox']['id']}&message={message_id}")
    frame_element = page.locator("iframe.mail-body")
    assert frame_element.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    frame = page.frame_locator("iframe.mail-body")
    expect(frame.locator("p").first).to_have_text("Hello there")
    expect(page.get_by_text("Remote images blocked.")).to_be_visible()
    assert page.title() != "pwned"
    inner = next(f for f in page.frames if f.url.endswith("/body"))
    assert inner.evaluate("document.title") != "pwned"
    assert frame.get_by_text("bad").get_attribute("href") is None
    assert frame.locator("img[onerror]").count() == 0
    page.wait_for_timeout(500)
    assert hits == []

    page.get_by_role("link", name="Show remote images").click()
    expect(page.get_by_text("Remote images shown.")).to_be_visible()
    expect(page.frame_locator("iframe.mail-body").locator("img[alt=pixel]")).to_be_visible()
    page.wait_for_timeout(500)
    assert hits == ["/pixel.gif"]
    assert page.title() != "pwned"


def test_the_body_route_has_its_own_policy(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    inbox_id = agent["inbox"]["id"]
    message_id = deliver(dev, agent["inbox"]["address"], subject="Styled", html="<p>hi</p>")
    answer = page.request.get(f"/mail/{inbox_id}/{message_id}/body")
    assert answer.status == 200
    assert answer.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; "
        "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'; "
        "base-uri 'none'; form-action 'none'"
    )
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    remote = page.request.get(f"/mail/{inbox_id}/{message_id}/body?remote=1")
    assert "img-src data: cid: https: http:;" in remote.headers["content-security-policy"]


def test_search_and_hostile_queries(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    address, inbox_id = agent["inbox"]["address"], agent["inbox"]["id"]
    deliver(dev, address, subject="Invoice 42", text="pay", **{"from": "Billing <bill@acme.test>"})
    deliver(dev, address, subject="Weekly news", text="50% off_now", **{"from": "news@other.test"})
    page.goto(f"/mail?inbox={inbox_id}")
    page.get_by_label("Search").fill("invoice")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".mail-list li")).to_have_count(1)
    expect(page.locator(".mail-list")).to_contain_text("Invoice 42")
    page.get_by_label("Search").fill("OTHER.TEST")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".mail-list li")).to_have_count(1)
    expect(page.locator(".mail-list")).to_contain_text("Weekly news")
    # Wildcards are taken literally.
    for query, count in (("%", 1), ("_", 1), ("0% off_", 1), ("x%y", 0), ("a_c", 0)):
        answer = page.request.get("/mail/list", params={"inbox": inbox_id, "q": query})
        assert answer.status == 200, query
        assert answer.text().count("<li") == count, query
    # A NUL anywhere in a URL is refused server-wide (http.middleware.reject_nul): a 400.
    nul = page.request.get("/mail", params={"inbox": inbox_id, "q": "a\x00b"})
    assert nul.status == 400
    for query in ("x" * 5000, "ü'\"\\; DROP TABLE messages; --", "😀", "\\%_"):
        assert page.request.get("/mail", params={"inbox": inbox_id, "q": query}).status == 200


def test_reply_sends_once_per_form(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    inbox_id = agent["inbox"]["id"]
    message_id = deliver(
        dev, agent["inbox"]["address"], subject="Question", text="?", **{"from": "ask@acme.test"}
    )
    page.goto(f"/mail?inbox={inbox_id}&message={message_id}")
    form = page.locator("form.reply")
    fields = {
        name: form.locator(f"input[name={name}]").get_attribute("value") or ""
        for name in ("csrf", "nonce", "inbox_id", "message_id", "action")
    }
    page.get_by_label("Your reply").fill("Here is the answer")
    page.get_by_role("button", name="Send the reply").click()
    expect(page.get_by_role("status")).to_have_text("Reply sent.")

    replay = page.request.post("/mail", form={**fields, "text": "Here is the answer"})
    assert replay.status == 200
    assert "already sent" in replay.text()
    sent = httpx.get(
        f"{dev.base_url}/v1/inboxes/{inbox_id}/sent", headers=bearer(agent["inbox_key"])
    ).json()["data"]
    assert len(sent) == 1
    assert sent[0]["subject"] == "Re: Question" and sent[0]["to"] == ["ask@acme.test"]
    assert sent[0]["in_reply_to"] == message_id


def test_latest_otp(page: Page, dev: DevProcess) -> None:
    agent = desk_for_new_agent(page, dev)
    deliver(dev, agent["inbox"]["address"], subject="Your code", text="Your code is 493817")
    page.goto(f"/mail?inbox={agent['inbox']['id']}")
    page.get_by_role("button", name="Latest OTP").click()
    expect(page.locator("code[data-otp]")).to_have_text("493817")
    assert "otp=1" in page.url  # a GET: reloading or sharing the URL asks again, no form resent


def test_other_workspaces_are_not_found_and_strangers_go_to_signup(
    page: Page, dev: DevProcess, browser: Any, console_errors: list[str]
) -> None:
    other = signup(dev.base_url)
    other_message = httpx.post(
        f"{dev.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": inbound_token(dev)},
        json={"to": other["inbox"]["address"], "text": "secret"},
    ).json()["deliveries"][0]["message_id"]
    agent = desk_for_new_agent(page, dev)
    mine = agent["inbox"]["id"]
    theirs = other["inbox"]["id"]
    for url in (
        f"/mail?inbox={theirs}",
        f"/mail?inbox={theirs}&otp=1",
        f"/mail?inbox={mine}&message={other_message}",
        "/mail?inbox=nonsense",
        f"/mail/{theirs}/{other_message}/body",
        f"/mail/{mine}/{other_message}/body",
        f"/mail/list?inbox={theirs}",
        f"/mail/events?inbox={theirs}",
    ):
        assert page.request.get(url).status == 404, url
    stranger = browser.new_context(base_url=dev.base_url)
    try:
        answer = stranger.request.get("/mail", max_redirects=0)
        assert answer.status == 303 and answer.headers["location"] == "/signup"
    finally:
        stranger.close()
