"""The mail desk's attachments in a real browser: the opened message lists them under safe
names, each link downloads the bytes (always as a download, never shown), and another
workspace's message, a bad id or no session is a 404."""

from __future__ import annotations

import email.policy
import os
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.helpers import signup, smtp_send
from tests.server.cli.test_commands import DevProcess
from tests.web.test_desk import deliver, desk_for_new_agent

DATA = os.urandom(400_000)


def with_files(to: str) -> bytes:
    message = EmailMessage()
    message["From"] = "bot@acme.test"
    message["To"] = to
    message["Subject"] = "Your files"
    message.set_content("attached")
    message.add_attachment(DATA, maintype="application", subtype="pdf", filename="../report.pdf")
    html = "<script>document.title='ran'</script>"
    message.add_attachment(html, subtype="html", filename="page\u202egnp.html")
    return message.as_bytes(policy=email.policy.SMTP)


def message_id_of(page: Page, dev: DevProcess, inbox_id: str) -> str:
    link = page.get_by_role("link", name="Your files")
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    return href.split("message=")[1].split("&")[0]


def test_the_reader_lists_and_downloads_attachments(
    page: Page, dev: DevProcess, tmp_path: Path, browser: Any
) -> None:
    agent = desk_for_new_agent(page, dev)
    inbox_id = agent["inbox"]["id"]
    smtp_send(
        "127.0.0.1", dev.smtp_port, agent["inbox"]["address"], with_files(agent["inbox"]["address"])
    )
    page.goto(f"/mail?inbox={inbox_id}")
    message_id = message_id_of(page, dev, inbox_id)
    page.goto(f"/mail?inbox={inbox_id}&message={message_id}")
    files = page.locator("[data-attachments] a")
    expect(files).to_have_text(["report.pdf", "pagegnp.html"])
    with page.expect_download() as info:
        files.nth(0).click()
    download = info.value
    assert download.suggested_filename == "report.pdf"
    saved = tmp_path / "report.pdf"
    download.save_as(saved)
    assert saved.read_bytes() == DATA
    # The HTML one is a download too, with nosniff and a sandbox: nothing of it runs here.
    answer = page.request.get(f"/mail/{inbox_id}/{message_id}/attachments/1")
    assert answer.status == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    with page.expect_download():
        files.nth(1).click()
    assert page.title() != "ran"

    other = signup(dev.base_url)
    theirs = deliver(dev, other["inbox"]["address"], text="secret")
    for url in (
        f"/mail/{inbox_id}/{theirs}/attachments/0",
        f"/mail/{other['inbox']['id']}/{theirs}/attachments/0",
        f"/mail/{inbox_id}/{message_id}/attachments/2",
        f"/mail/{inbox_id}/{message_id}/attachments/-1",
        f"/mail/{inbox_id}/{message_id}/attachments/{'9' * 40}",
        f"/mail/{inbox_id}/{message_id}/attachments/x",
        f"/mail/{inbox_id}/nonsense/attachments/0",
        f"/mail/nonsense/{message_id}/attachments/0",
    ):
        assert page.request.get(url).status == 404, url
    stranger = browser.new_context(base_url=dev.base_url)
    try:
        url = f"/mail/{inbox_id}/{message_id}/attachments/0"
        assert stranger.request.get(url, max_redirects=0).status == 404
    finally:
        stranger.close()
