"""Message pages, folders, retention, artifacts, OTP and the server-side wait."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.db import tables as t
from tests.conftest import INBOUND_TOKEN, LiveServer, _ServerThread, make_settings
from tests.helpers import bearer, signup


class Inbox:
    def __init__(self, server: LiveServer, local_part: str) -> None:
        self.server = server
        account = signup(server.base_url, local_part=local_part)
        self.id = account["inbox"]["id"]
        self.address = account["inbox"]["address"]
        self.client = httpx.Client(
            base_url=f"{server.base_url}/v1/inboxes/{self.id}",
            headers=bearer(account["inbox_key"]),
            timeout=30,
        )

    def deliver(self, **body: object) -> str:
        response = httpx.post(
            f"{self.server.base_url}/v1/webhooks/inbound",
            headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
            json={"to": self.address, "text": "hello", **body},
        )
        assert response.status_code == 201, response.text
        message_id: str = response.json()["deliveries"][0]["message_id"]
        return message_id

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.client.get(path, params=params)  # type: ignore[arg-type]


def test_cursor_paging_newest_first(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "paging")
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


def test_folder_filter(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "folders")
    good = inbox.deliver(subject="good")
    bad = inbox.deliver(subject="bad", spam=True)
    assert [m["id"] for m in inbox.get("/messages").json()["data"]] == [good]
    assert [m["id"] for m in inbox.get("/messages", folder="spam").json()["data"]] == [bad]
    assert {m["id"] for m in inbox.get("/messages", folder="all").json()["data"]} == {good, bad}


def test_message_detail_artifacts_and_otp(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "otp-read")
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
    inbox = Inbox(live_server, "retention")
    old = inbox.deliver(text="Your verification code is 333333")
    fresh = inbox.deliver(text="nothing here")
    _age_messages(live_server, [old], days=live_server.settings.storage.message_retention_days + 1)
    assert [m["id"] for m in inbox.get("/messages").json()["data"]] == [fresh]
    assert inbox.get(f"/messages/{old}").status_code == 404
    assert inbox.get(f"/messages/{old}/raw").status_code == 404
    assert inbox.get("/otp").json() == {"otp": None}
    assert inbox.get("/artifacts").json()["data"] == []


def test_wait_times_out_with_a_normal_answer(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "wait-timeout")
    started = time.monotonic()
    response = inbox.get("/wait", timeout=0.3)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    body = response.json()
    assert body["matched"] is False and body["message"] is None and body["otp"] is None
    assert isinstance(body["cursor"], str)


def test_wait_wakes_immediately_on_ingest(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "wait-wake")
    since = datetime.now(UTC).isoformat()
    result: dict[str, object] = {}

    def waiter() -> None:
        result["response"] = inbox.get("/wait", kind="otp", since=since, timeout=20).json()
        result["at"] = time.monotonic()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    inbox.deliver(subject="Verify", text="Your verification code is 444555")
    delivered_at = time.monotonic()
    thread.join(timeout=25)
    body = result["response"]
    assert isinstance(body, dict)
    assert body["matched"] is True and body["otp"]["code"] == "444555"
    # far below the 5 s safety re-check: the ingest woke the waiter
    assert float(result["at"]) - delivered_at < 1.0  # type: ignore[arg-type]


def test_wait_returns_recent_match_without_waiting(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "wait-recent")
    inbox.deliver(text="Your code is 101010")
    newest = inbox.deliver(text="Your code is 202020")
    body = inbox.get("/wait", kind="otp", timeout=5).json()
    assert body["matched"] and body["message"]["id"] == newest and body["otp"]["code"] == "202020"


def test_wait_after_cursor_walks_forward_in_order(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "wait-after")
    first = inbox.get("/wait", timeout=0).json()
    a = inbox.deliver(subject="a")
    b = inbox.deliver(subject="b")
    step1 = inbox.get("/wait", after=first["cursor"], timeout=1).json()
    step2 = inbox.get("/wait", after=step1["cursor"], timeout=1).json()
    step3 = inbox.get("/wait", after=step2["cursor"], timeout=0.2).json()
    assert [step1["message"]["id"], step2["message"]["id"]] == [a, b]
    assert step3["matched"] is False and step3["cursor"] == step2["cursor"]


def test_wait_filters(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "wait-filter")
    inbox.deliver(subject="Newsletter", text="Read our news", **{"from": "news@shop.test"})
    inbox.deliver(subject="Your code", text="Your code is 555666", **{"from": "auth@acme.test"})
    inbox.deliver(
        subject="Confirm your email",
        text="Click https://acme.test/confirm?t=1",
        **{"from": "auth@acme.test"},
    )
    by_from = inbox.get("/wait", **{"from": "SHOP.test"}, timeout=0).json()
    assert by_from["message"]["subject"] == "Newsletter"
    by_subject = inbox.get("/wait", subject="code", timeout=0).json()
    assert by_subject["otp"]["code"] == "555666"
    by_kind = inbox.get("/wait", kind="link", timeout=0).json()
    assert by_kind["link"]["value"] == "https://acme.test/confirm?t=1"
    none = inbox.get("/wait", subject="100%_match", timeout=0).json()
    assert none["matched"] is False


def _cursor_token(payload: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "sms"},
        {"timeout": "-1"},
        {"timeout": "nan"},
        {"timeout": "soon"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "9999-12-31T23:59:59-14:00"},
        {"after": _cursor_token(["message", "0001-01-01T00:00:00+14:00", ""])},
        {"after": _cursor_token(["message", "9999-12-31T23:59:59-14:00", ""])},
        {"after": _cursor_token(["message", "2026-01-01T00:00:00+00:00", "a\x00b"])},
        {"after": _cursor_token(["artifact", "2026-01-01T00:00:00+00:00", ""])},
        {"after": "zzz"},
        {"folder": "x"},
        {"after": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIiJd", "since": "2026-01-01T00:00:00Z"},
    ],
)
def test_wait_rejects_bad_parameters(live_server: LiveServer, params: dict[str, str]) -> None:
    inbox = Inbox(live_server, f"wait-bad-{abs(hash(str(params))) % 10**8}")
    response = inbox.get("/wait", **params)
    assert response.status_code == 400, params
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_cursor")


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
    inbox = Inbox(live_server, f"forged-{listing}-{abs(hash(str(payload))) % 10**8}")
    payload = (
        ["artifact", *payload[1:]] if listing == "artifacts" and len(payload) == 3 else payload
    )
    response = inbox.get(f"/{listing}", cursor=_cursor_token(payload))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_only_works_on_its_own_listing(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "cursor-kinds")
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


def test_wait_accepts_extreme_but_valid_times(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "wait-extremes")
    newest = inbox.deliver(subject="hello")
    early = inbox.get("/wait", since="0001-01-01T00:00:00Z", timeout=0).json()
    assert early["matched"] and early["message"]["id"] == newest
    late = inbox.get("/wait", since="9999-12-31T23:59:59+00:00", timeout=0).json()
    assert late["matched"] is False
    assert inbox.get("/wait", after=late["cursor"], timeout=0).json()["matched"] is False


def test_wait_timeout_above_the_maximum_is_shortened_not_refused(database_url: str) -> None:
    thread = _ServerThread(make_settings(database_url, DISPATCH_WAIT_MAX_SECONDS=0.3))
    server = thread.start()
    try:
        inbox = Inbox(server, "wait-clamp")
        started = time.monotonic()
        response = inbox.get("/wait", timeout=3600)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.json()["matched"] is False
        assert 0.3 <= elapsed < 5
        assert inbox.get("/wait", timeout="inf").status_code == 200
        message = inbox.deliver(subject="now")
        body = inbox.get("/wait", timeout=1e300).json()
        assert body["matched"] and body["message"]["id"] == message
    finally:
        thread.stop()


def test_wait_counts_the_mail_that_arrived_but_did_not_match(live_server: LiveServer) -> None:
    inbox = Inbox(live_server, "wait-unmatched")
    start = inbox.get("/wait", timeout=0).json()
    assert start["unmatched_count"] == 0
    inbox.deliver(subject="Weekly digest", text="nothing to see")
    inbox.deliver(subject="Your code", text="Your code is 818181", **{"from": "a@other.test"})
    inbox.deliver(subject="Spam", text="Your code is 929292", spam=True)  # another folder
    after = {"after": start["cursor"], "timeout": 0}
    by_subject = inbox.get("/wait", subject="login", **after).json()
    assert by_subject["matched"] is False and by_subject["unmatched_count"] == 2
    by_sender = inbox.get("/wait", kind="otp", **{"from": "github"}, **after).json()
    assert by_sender["matched"] is False and by_sender["unmatched_count"] == 2
    otp_only = inbox.get("/wait", kind="link", **after).json()
    assert otp_only["unmatched_count"] == 2
    matched = inbox.get("/wait", kind="otp", **after).json()
    assert matched["matched"] is True and matched["unmatched_count"] == 0
    since_window = inbox.get("/wait", subject="login", timeout=0).json()  # default lookback
    assert since_window["unmatched_count"] == 2
