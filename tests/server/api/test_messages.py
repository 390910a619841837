"""Message pages, folders, retention, message detail, artifacts, the OTP and cursors, over
real HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.db import tables as t
from tests.conftest import LiveServer
from tests.helpers import InboxClient, cursor_token


def test_cursor_paging_newest_first(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "paging")
    ids = [inbox.deliver(subject=f"m{i}") for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = inbox.get("/messages", **params).json()
        seen += [m["id"] for m in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    ("code", "kind"), [("482913", "digits"), ("BCDFGH", "letters"), ("7hGq2Lk", "mixed")]
)
def test_the_otp_is_given_as_written_with_its_kind(
    live_server: LiveServer, code: str, kind: str
) -> None:
    """A code with letters may be case-sensitive: it comes back exactly as the mail wrote it."""
    inbox = InboxClient(live_server, f"otp-kind-{kind}")
    inbox.deliver(subject="Sign in to Acme", text=f"Your verification code:\n{code}\n")
    otp = inbox.get("/otp").json()["otp"]
    assert (otp["code"], otp["kind"]) == (code, kind)


def test_folder_filter(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "folders")
    good = inbox.deliver(subject="good")
    bad = inbox.deliver(subject="bad", spam=True)
    assert [m["id"] for m in inbox.get("/messages").json()["data"]] == [good]
    assert [m["id"] for m in inbox.get("/messages", folder="spam").json()["data"]] == [bad]
    assert {m["id"] for m in inbox.get("/messages", folder="all").json()["data"]} == {good, bad}


def test_message_detail_artifacts_and_otp(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "otp-read")
    assert inbox.get("/otp").json() == {"otp": None}
    first = inbox.deliver(subject="Your code", text="Your verification code is 111111")
    inbox.deliver(subject="Spammy code", text="Your verification code is 999999", spam=True)
    second = inbox.deliver(
        subject="Sign in", text="Your login code is 222222. https://acme.test/login?token=t"
    )
    otp = inbox.get("/otp").json()["otp"]
    assert otp["code"] == "222222" and otp["message_id"] == second and otp["subject"] == "Sign in"
    detail = inbox.get(f"/messages/{second}").json()
    kinds = {(a["kind"], a["value"]) for a in detail["artifacts"]}
    assert ("otp", "222222") in kinds and ("link", "https://acme.test/login?token=t") in kinds
    otps = inbox.get("/artifacts", kind="otp").json()["data"]
    assert [a["value"] for a in otps] == ["222222", "111111"]  # spam excluded, newest first
    assert otps[1]["message_id"] == first
    assert inbox.get("/artifacts", kind="bogus").status_code == 400
    assert inbox.get("/messages/not-an-id").status_code == 404


def _age_messages(server: LiveServer, message_ids: list[str], days: int) -> None:
    async def run() -> None:
        engine = create_async_engine(server.database_url)
        old = datetime.now(UTC) - timedelta(days=days)
        async with engine.begin() as conn:
            await conn.execute(
                t.messages.update().where(t.messages.c.id.in_(message_ids)).values(received_at=old)
            )
            await conn.execute(
                t.artifacts.update()
                .where(t.artifacts.c.message_id.in_(message_ids))
                .values(received_at=old)
            )
        await engine.dispose()

    asyncio.run(run())


def test_retention_hides_old_mail_from_every_read(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "retention")
    old = inbox.deliver(text="Your verification code is 333333")
    fresh = inbox.deliver(text="nothing here")
    _age_messages(live_server, [old], days=live_server.settings.storage.message_retention_days + 1)
    assert [m["id"] for m in inbox.get("/messages").json()["data"]] == [fresh]
    assert inbox.get(f"/messages/{old}").status_code == 404
    assert inbox.get(f"/messages/{old}/raw").status_code == 404
    assert inbox.get("/otp").json() == {"otp": None}
    assert inbox.get("/artifacts").json()["data"] == []


@pytest.mark.parametrize(
    "payload",
    [
        ["message", "0001-01-01T00:00:00+14:00", ""],
        ["message", "9999-12-31T23:59:59-14:00", ""],
        ["message", "2026-01-01T00:00:00+00:00", "a\x00b"],
        ["message", "2026-01-01T00:00:00+00:00", "\x00"],
        ["message", "2026-01-01T00:00:00+00:00", "not-an-id"],
        ["2026-01-01T00:00:00+00:00", ""],
    ],
)
@pytest.mark.parametrize("listing", ["messages", "artifacts"])
def test_forged_cursors_are_400(live_server: LiveServer, listing: str, payload: list[str]) -> None:
    inbox = InboxClient(live_server, f"forged-{listing}-{abs(hash(str(payload))) % 10**8}")
    payload = (
        ["artifact", *payload[1:]] if listing == "artifacts" and len(payload) == 3 else payload
    )
    response = inbox.get(f"/{listing}", cursor=cursor_token(payload))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_only_works_on_its_own_listing(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "cursor-kinds")
    for i in range(3):
        inbox.deliver(text=f"Your code is {i}{i}{i}{i}{i}{i}. https://acme.test/v?{i}")
    messages = inbox.get("/messages", limit=1).json()["next_cursor"]
    artifacts = inbox.get("/artifacts", limit=1).json()["next_cursor"]
    assert inbox.get("/messages", cursor=messages).status_code == 200
    assert inbox.get("/artifacts", cursor=artifacts).status_code == 200
    for path, cursor in (("/artifacts", messages), ("/messages", artifacts)):
        response = inbox.get(path, cursor=cursor)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_cursor")
    # a wait answer's cursor is a position among messages, like a message page's
    waited = inbox.get("/wait", timeout=0).json()["cursor"]
    assert inbox.get("/messages", cursor=waited).status_code == 200
    assert inbox.get("/wait", after=messages, timeout=0).status_code == 200
    assert inbox.get("/wait", after=artifacts, timeout=0).status_code == 400


SUMMARY_FIELDS = {
    "id",
    "inbox_id",
    "from",
    "from_address",
    "to",
    "subject",
    "preview",
    "folder",
    "size_bytes",
    "received_at",
    "attachment_count",
    "has_otp",
    "has_link",
    "thread_id",
    "unread",
    "read_at",
    "trashed_at",
    "labels",
}


def test_a_page_lists_summaries_and_the_message_has_the_bodies(live_server: LiveServer) -> None:
    inbox = InboxClient(live_server, "summaries")
    text = "Your   verification\ncode is 424242.\n\n" + "More text. " * 100
    coded = inbox.deliver(subject="Code", text=text, html="<p>Your code is 424242</p>")
    linked = inbox.deliver(
        subject=None,
        text=None,
        html="<style>p {color: red}</style><p>Go to https://acme.test/x</p>",
    )
    plain = inbox.deliver(subject="Hi", text="just words")
    listed = {m["id"]: m for m in inbox.get("/messages").json()["data"]}
    assert all(set(m) == SUMMARY_FIELDS for m in listed.values()), listed
    first = listed[coded]
    assert first["preview"].startswith("Your verification code is 424242. More text.")
    assert len(first["preview"]) == 200 and first["preview"].endswith("…")
    assert (first["has_otp"], first["has_link"], first["attachment_count"]) == (True, False, 0)
    assert listed[linked]["preview"] == "Go to https://acme.test/x"  # the HTML's visible text
    assert (listed[linked]["has_otp"], listed[linked]["has_link"]) == (False, True)
    assert (listed[plain]["has_otp"], listed[plain]["has_link"]) == (False, False)
    assert listed[plain]["to"] == [inbox.address]
    detail = inbox.get(f"/messages/{coded}").json()
    assert detail["text"].strip() == text.strip() and "424242" in detail["html"]
    assert detail["size_bytes"] == first["size_bytes"] and detail["subject"] == "Code"


def test_a_summary_is_small_whatever_the_message(live_server: LiveServer) -> None:
    """Megabytes of body, a huge subject and many recipients: the page stays a few KiB."""
    inbox = InboxClient(live_server, "big-mail")
    many = ", ".join(f"someone{i}@acme.test" for i in range(50))
    body = "x" * (2 * 1024 * 1024)
    for _ in range(3):
        headers = {"To": f"{inbox.address}, {many}"}
        inbox.deliver(subject="S" * 5000, text=body, html=f"<p>{body}</p>", headers=headers)
    response = inbox.get("/messages")
    assert response.status_code == 200
    assert len(response.content) < 10 * 1024, len(response.content)
    [summary, *_] = response.json()["data"]
    assert len(summary["subject"]) == 998 and summary["subject"].endswith("…")
    assert summary["to"][0] == inbox.address and len(summary["to"]) == 10
    assert summary["size_bytes"] > 4 * 1024 * 1024
