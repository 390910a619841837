"""Restricted inbox keys: an expiry, a part of the permissions, the senders whose mail they
may read; what `GET /v1/auth/me` says of them; and what bad restrictions get. On SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dispatch_server.auth import policy
from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, error_code, make_mail, signup, smtp_send


def deliver(server: LiveServer, to: str, sender: str, text: str) -> str:
    response = httpx.post(
        f"{server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
        json={"to": to, "from": sender, "subject": f"from {sender}", "text": text},
    )
    assert response.status_code == 201, response.text
    [delivery] = response.json()["deliveries"]
    return str(delivery["message_id"])


def mint(server: LiveServer, account: dict[str, Any], **body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/v1/inboxes/{account['inbox']['id']}/keys",
        headers=bearer(account["account_key"]),
        json=body,
    )


def minted(server: LiveServer, account: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = mint(server, account, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def me(server: LiveServer, key: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/v1/auth/me", headers=bearer(key))


def test_an_unrestricted_key_is_as_before(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    key = minted(live_server, account, label="plain")
    assert (key["expires_at"], key["permissions"], key["allowed_senders"]) == (None, None, None)
    body = me(live_server, key["key"]).json()
    assert body["permissions"] == ["read", "wait", "send", "memory", "organize"]
    assert (body["restricted"], body["allowed_senders"], body["expires_at"]) == (
        False,
        None,
        None,
    )


def test_me_reports_the_restrictions(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    key = minted(
        live_server,
        account,
        permissions=["wait", "read"],
        allowed_senders=["*@GitHub.com", "noreply@x.com", "*.example.com", "*@github.com"],
        expires_in=3600,
    )
    assert key["permissions"] == ["read", "wait"]  # in the kind's order
    assert key["allowed_senders"] == ["*@github.com", "noreply@x.com", "*.example.com"]
    body = me(live_server, key["key"]).json()
    assert body["restricted"] is True
    assert body["permissions"] == ["read", "wait"]
    assert body["allowed_senders"] == ["*@github.com", "noreply@x.com", "*.example.com"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    listed = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/keys",
        headers=bearer(account["account_key"]),
    ).json()["data"]
    [shown] = [k for k in listed if k["id"] == key["id"]]
    assert shown["permissions"] == ["read", "wait"] and shown["expires_at"] == body["expires_at"]


def test_an_expired_key_gets_the_401_of_any_bad_key(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    key = minted(live_server, account, expires_in=1)
    messages = f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/messages"
    assert httpx.get(messages, headers=bearer(key["key"])).status_code == 200
    time.sleep(1.2)
    expired = httpx.get(messages, headers=bearer(key["key"]))
    unknown = httpx.get(messages, headers=bearer(key["id"] + ".wrong-secret"))
    assert (expired.status_code, error_code(expired)) == (401, "unauthorized")
    assert expired.json() == unknown.json()
    assert me(live_server, key["key"]).status_code == 401


def test_an_expiry_at_a_time(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    key = minted(live_server, account, expires_at=at.isoformat())
    assert datetime.fromisoformat(key["expires_at"]) == at
    assert me(live_server, key["key"]).json()["expires_at"] == key["expires_at"]


def test_a_missing_permission_is_403_naming_it(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    base = f"{live_server.base_url}/v1/inboxes/{inbox['id']}"
    key = minted(live_server, account, permissions=["wait"])["key"]
    calls = {
        "read": [
            httpx.get(f"{base}/messages", headers=bearer(key)),
            httpx.get(f"{base}/otp", headers=bearer(key)),
            httpx.get(f"{base}/artifacts", headers=bearer(key)),
            httpx.get(f"{base}/sent", headers=bearer(key)),
            httpx.get(base, headers=bearer(key)),
        ],
        "send": [
            httpx.post(
                f"{live_server.base_url}/v1/send",
                headers=bearer(key),
                json={"to": ["a@example.com"], "subject": "x", "text": "x"},
            )
        ],
        "memory": [httpx.get(f"{base}/memory/keys", headers=bearer(key))],
    }
    for permission, answers in calls.items():
        for answer in answers:
            assert answer.status_code == 403, (permission, answer.request.url, answer.text)
            error = answer.json()["error"]
            assert (error["code"], error["param"]) == ("missing_permission", permission)
    waited = httpx.get(f"{base}/wait", params={"timeout": "0"}, headers=bearer(key))
    assert waited.status_code == 200
    # Another inbox is still a 404, not a 403: its id cannot be probed.
    other = httpx.get(f"{live_server.base_url}/v1/inboxes/{account['agent']['id']}/messages")
    assert other.status_code == 401
    theirs = signup(live_server.base_url)["inbox"]["id"]
    probe = httpx.get(f"{live_server.base_url}/v1/inboxes/{theirs}/messages", headers=bearer(key))
    assert (probe.status_code, error_code(probe)) == (404, "not_found")


def test_reads_see_only_the_allowed_senders(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    base = f"{live_server.base_url}/v1/inboxes/{inbox['id']}"
    senders = [
        "bot@github.com",  # *@github.com
        "noreply@x.com",  # exact
        "a@mail.example.com",  # *.example.com
        "evil@notgithub.com",
        "noreply@x.com.evil.test",
        "a@example.com",  # not a subdomain
        "github.com@evil.test",
    ]
    ids = {
        s: deliver(live_server, inbox["address"], s, f"Your code is {100000 + i}")
        for i, s in enumerate(senders)
    }
    allowed = {"bot@github.com", "noreply@x.com", "a@mail.example.com"}
    key = minted(
        live_server, account, allowed_senders=["*@github.com", "noreply@x.com", "*.example.com"]
    )["key"]
    headers = bearer(key)
    # Paged one by one: the filter is in the query, so no page is empty and none is missed.
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
        page = httpx.get(f"{base}/messages", params=params, headers=headers).json()
        assert len(page["data"]) == 1 or (not page["data"] and not seen)
        seen += [m["from_address"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(seen) == allowed and len(seen) == 3
    for sender, message_id in ids.items():
        expected = 200 if sender in allowed else 404
        assert httpx.get(f"{base}/messages/{message_id}", headers=headers).status_code == expected
        raw = httpx.get(f"{base}/messages/{message_id}/raw", headers=headers)
        assert raw.status_code == expected
    artifacts = httpx.get(f"{base}/artifacts", headers=headers).json()["data"]
    assert {a["message_id"] for a in artifacts} == {ids[s] for s in allowed}
    otp = httpx.get(f"{base}/otp", headers=headers).json()["otp"]
    assert otp["message_id"] == ids["a@mail.example.com"]  # the newest allowed, not the newest
    everything = httpx.get(f"{base}/otp", headers=bearer(account["inbox_key"])).json()["otp"]
    assert everything["message_id"] == ids["github.com@evil.test"]
    since = {"since": "2000-01-01T00:00:00Z", "timeout": "0", "kind": "otp"}
    waited = httpx.get(f"{base}/wait", params=since, headers=headers).json()
    assert waited["message"]["from_address"] == "a@mail.example.com"
    # A reply to mail it may not read: as if there were no such message.
    reply = httpx.post(
        f"{base}/messages/{ids['evil@notgithub.com']}/reply", headers=headers, json={"text": "x"}
    )
    assert reply.status_code in (400, 404) and "evil" not in reply.text.replace(
        ids["evil@notgithub.com"], ""
    )
    # Its inbox's own sent mail is from the inbox's address, which it may not read.
    assert httpx.get(f"{base}/sent", headers=headers).json()["data"] == []


def test_a_restricted_wait_skips_other_senders(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    base = f"{live_server.base_url}/v1/inboxes/{inbox['id']}"
    key = minted(live_server, account, allowed_senders=["*@github.com"])["key"]
    answers: list[httpx.Response] = []

    def wait() -> None:
        answers.append(
            httpx.get(
                f"{base}/wait",
                params={"kind": "otp", "timeout": "15"},
                headers=bearer(key),
                timeout=30,
            )
        )

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    deliver(live_server, inbox["address"], "phisher@evil.test", "Your code is 111111")
    time.sleep(0.3)
    deliver(live_server, inbox["address"], "noreply@github.com", "Your code is 222222")
    waiter.join(timeout=30)
    [answer] = answers
    assert answer.json()["otp"]["code"] == "222222"
    assert "111111" not in answer.text


def test_the_events_stream_carries_only_allowed_mail(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    key = minted(live_server, account, allowed_senders=["*@github.com"])["key"]
    url = f"{live_server.base_url}/v1/inboxes/{inbox['id']}/events"
    lines: list[str] = []

    def read() -> None:
        with httpx.stream("GET", url, headers=bearer(key), timeout=10) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                lines.append(line)
                if "222222" in line:
                    return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    deliver(live_server, inbox["address"], "phisher@evil.test", "Your code is 111111")
    deliver(live_server, inbox["address"], "noreply@github.com", "Your code is 222222")
    reader.join(timeout=15)
    text = "\n".join(lines)
    assert "222222" in text and "111111" not in text and "evil.test" not in text


BAD_MINTS = [
    ({"permissions": ["read", "admin"]}, "permissions"),
    ({"permissions": []}, "permissions"),
    ({"permissions": "read"}, "permissions"),
    ({"permissions": [1]}, "permissions"),
    ({"permissions": ["read"] * 6}, "permissions"),
    ({"allowed_senders": []}, "allowed_senders"),
    ({"allowed_senders": "*@github.com"}, "allowed_senders"),
    ({"allowed_senders": ["github.com"]}, "allowed_senders"),
    ({"allowed_senders": ["*"]}, "allowed_senders"),
    ({"allowed_senders": ["*@*"]}, "allowed_senders"),
    ({"allowed_senders": ["a*b@github.com"]}, "allowed_senders"),
    ({"allowed_senders": ["*@%.com"]}, "allowed_senders"),
    ({"allowed_senders": ["*@github_.com"]}, "allowed_senders"),
    ({"allowed_senders": ["*@"]}, "allowed_senders"),
    ({"allowed_senders": ["@github.com"]}, "allowed_senders"),
    ({"allowed_senders": ["a@b@github.com"]}, "allowed_senders"),
    ({"allowed_senders": ["*@gitHub.com\x00"]}, "allowed_senders"),
    ({"allowed_senders": ["*@" + "a" * 300 + ".com"]}, "allowed_senders"),
    ({"allowed_senders": ["ü@github.com"]}, "allowed_senders"),
    (
        {"allowed_senders": [f"*@d{i}.com" for i in range(policy.MAX_SENDER_PATTERNS + 1)]},
        "allowed_senders",
    ),
    ({"allowed_senders": [None]}, "allowed_senders"),
    ({"expires_in": 0}, "expires_in"),
    ({"expires_in": -5}, "expires_in"),
    ({"expires_in": 10**12}, "expires_in"),
    ({"expires_in": "soon"}, "expires_in"),
    ({"expires_in": 1.5}, "expires_in"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"expires_at": "tomorrow"}, "expires_at"),
    ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no offset
    ({"expires_at": "9999-12-31T23:59:59Z"}, "expires_at"),
    ({"expires_at": "2099-01-01T00:00:00Z", "expires_in": 60}, "expires_in"),
]


@pytest.mark.parametrize(("body", "param"), BAD_MINTS)
def test_bad_restrictions_are_400_naming_the_field(
    live_server: LiveServer, body: dict[str, Any], param: str
) -> None:
    account = signup(live_server.base_url)
    response = mint(live_server, account, **body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", param)
    keys = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/keys",
        headers=bearer(account["account_key"]),
    ).json()["data"]
    assert len(keys) == 1  # nothing minted


def test_only_an_account_key_mints(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    response = httpx.post(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/keys",
        headers=bearer(account["inbox_key"]),
        json={"permissions": ["read"]},
    )
    assert (response.status_code, error_code(response)) == (403, "forbidden")


@pytest.mark.parametrize(
    ("pattern", "address", "allowed"),
    [
        ("*@github.com", "a@github.com", True),
        ("*@github.com", "a@sub.github.com", False),
        ("*@github.com", "a@evilgithub.com", False),
        ("*.example.com", "a@b.example.com", True),
        ("*.example.com", "a@b.c.example.com", True),
        ("*.example.com", "a@example.com", False),
        ("*.example.com", "a.example.com", False),
        ("noreply@x.com", "noreply@x.com", True),
        ("noreply@x.com", "xnoreply@x.com", False),
        ("noreply@x.com", None, False),
    ],
)
def test_patterns_in_memory(pattern: str, address: str | None, allowed: bool) -> None:
    assert policy.sender_allowed((policy.sender_pattern(pattern),), address) is allowed


@pytest.mark.parametrize(
    "from_header",
    [
        "noreply@github.com <evil@attacker.test>",  # an address written as the display name
        "noreply@github.com, evil@attacker.test",  # several senders
        "evil@attacker.test, noreply@github.com",
        '"x" <noreply@github.com>, <evil@attacker.test>',
        "=?UTF-8?Q?noreply=40github.com?= <evil@attacker.test>",  # an encoded-word name
        "a" * 309 + "@github.com.evil.test",  # cut at 320 it would end in @github.com
    ],
)
def test_a_sender_restriction_matches_one_real_address_only(
    live_server: LiveServer, from_header: str
) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    key = minted(live_server, account, allowed_senders=["*@github.com"])["key"]
    for sender, code in ((from_header, "271828"), ("GitHub <noreply@github.com>", "161803")):
        smtp_send(
            live_server.smtp_host,
            live_server.smtp_port,
            inbox["address"],
            make_mail(inbox["address"], sender=sender, text=f"Your code is {code}"),
        )
    listed = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{inbox['id']}/messages", headers=bearer(key)
    ).json()["data"]
    assert [m["from_address"] for m in listed] == ["noreply@github.com"]
    otp = httpx.get(f"{live_server.base_url}/v1/inboxes/{inbox['id']}/otp", headers=bearer(key))
    assert otp.json()["otp"]["code"] == "161803"


def test_a_key_without_memory_sees_none_of_it(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    base = f"{live_server.base_url}/v1/inboxes/{inbox['id']}"
    written = httpx.post(
        f"{base}/memory",
        headers=bearer(account["inbox_key"]),
        json={"key": "bank-pin", "value": "my pin is 4921!"},  # no id or cursor looks so
    )
    assert written.status_code == 201, written.text
    deliver(live_server, inbox["address"], "bot@github.com", "Your code is 123456")
    full = bearer(account["inbox_key"])
    assert httpx.get(f"{base}/messages?folder=memory", headers=full).json()["data"]
    key = minted(live_server, account, permissions=["read", "wait"])["key"]
    headers = bearer(key)
    for url in (f"{base}/messages?folder=memory", f"{base}/wait?folder=memory&timeout=0"):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 403 and error_code(refused) == "missing_permission", url
        assert refused.json()["error"]["param"] == "memory"
    everything = httpx.get(f"{base}/messages?folder=all", headers=headers).json()["data"]
    assert [m["folder"] for m in everything] == ["inbox"]
    seen = httpx.get(f"{base}/messages?folder=all", headers=full).text
    assert "my pin is 4921!" in seen  # the full key sees it: the check below is not vacuous
    assert "my pin is 4921!" not in httpx.get(f"{base}/messages?folder=all", headers=headers).text
    assert httpx.get(f"{base}/sent", headers=headers).json()["data"] == []
    [memory_send] = httpx.get(f"{base}/sent", headers=full).json()["data"]
    assert httpx.get(f"{base}/sent/{memory_send['id']}", headers=headers).status_code == 404
    waited = httpx.get(f"{base}/wait?folder=all&timeout=0", headers=headers).json()
    assert waited["message"]["folder"] == "inbox"
