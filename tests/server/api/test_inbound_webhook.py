"""The dev inbound webhook door."""

from __future__ import annotations

import email.policy
import threading
from email.parser import BytesParser

import httpx

from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, make_mail, signup

TOKEN = {"x-dispatch-inbound-token": INBOUND_TOKEN}


def post(server: LiveServer, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{server.base_url}/v1/webhooks/inbound", **kwargs)  # type: ignore[arg-type]


def test_json_form_is_ingested_like_smtp(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="hook-json")
    response = post(
        live_server,
        headers=TOKEN,
        json={
            "to": "hook-json@dispatch.test",
            "from": "GitHub <noreply@github.test>",
            "subject": "Your GitHub launch code",
            "text": "Code: 90210-11",
            "html": "<p>Code: <b>902101</b></p>",
            "headers": {"X-Campaign": "verify"},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    [delivery] = body["deliveries"]
    assert delivery["inbox_id"] == account["inbox"]["id"]
    assert delivery["folder"] == "inbox" and delivery["duplicate"] is False
    assert body["rejected"] == []
    message = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/messages/{delivery['message_id']}",
        headers=bearer(account["inbox_key"]),
    ).json()
    assert message["from"] == "GitHub <noreply@github.test>"
    assert message["subject"] == "Your GitHub launch code"
    assert "902101" in message["html"]


def test_raw_form_with_query_recipients_and_dedupe(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="hook-raw")
    raw = make_mail("someone-else@dispatch.test", message_id="<hook-raw-1@acme.test>")
    headers = {**TOKEN, "content-type": "message/rfc822"}
    first = post(live_server, headers=headers, content=raw, params={"to": "hook-raw@dispatch.test"})
    again = post(live_server, headers=headers, content=raw, params={"to": "hook-raw@dispatch.test"})
    assert first.status_code == again.status_code == 201
    assert again.json()["deliveries"][0]["duplicate"] is True
    assert (
        again.json()["deliveries"][0]["message_id"] == first.json()["deliveries"][0]["message_id"]
    )
    assert first.json()["deliveries"][0]["inbox_id"] == account["inbox"]["id"]


def test_raw_form_falls_back_to_header_recipients(live_server: LiveServer) -> None:
    signup(live_server.base_url, local_part="hook-hdr")
    raw = make_mail("Bot <hook-hdr@dispatch.test>")
    response = post(live_server, headers={**TOKEN, "content-type": "message/rfc822"}, content=raw)
    assert response.status_code == 201


def test_spam_flag_files_into_spam(live_server: LiveServer) -> None:
    signup(live_server.base_url, local_part="hook-spam")
    response = post(
        live_server,
        headers=TOKEN,
        json={"to": "hook-spam@dispatch.test", "text": "buy now", "spam": True},
    )
    assert response.json()["deliveries"][0]["folder"] == "spam"


def test_token_is_required(live_server: LiveServer) -> None:
    body = {"to": "x@dispatch.test", "text": "hi"}
    for headers in ({}, {"x-dispatch-inbound-token": "wrong"}):
        response = post(live_server, headers=headers, json=body)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_bad_bodies_are_400_and_unknown_recipients_404(live_server: LiveServer) -> None:
    for body in (
        {"to": "x@dispatch.test"},
        {"to": [], "text": "a"},
        {"to": "no-at", "text": "a"},
        {"to": "x@dispatch.test", "text": 5},
        {"to": "x@dispatch.test", "text": "a", "headers": []},
        {"to": "x@dispatch.test", "text": "a", "spam": "yes"},
        {"to": "x@dispatch.test", "text": "a", "headers": {"Bad Name": "v"}},
        {"to": "x@dispatch.test", "text": "a", "headers": {"": "v"}},
        {"to": "x@dispatch.test", "text": "a", "headers": {"X-Ok:": "v"}},
        {"to": "x@dispatch.test", "text": "a", "headers": {"Content-Type": "text/html"}},
    ):
        response = post(live_server, headers=TOKEN, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
    response = post(live_server, headers=TOKEN, json={"to": "ghost@dispatch.test", "text": "a"})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_recipient")
    response = post(
        live_server, headers={**TOKEN, "content-type": "message/rfc822"}, content=b"no headers"
    )
    assert response.status_code == 400


def test_json_form_headers_replace_the_defaults(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part="hook-headers")
    body = {
        "to": "hook-headers@dispatch.test",
        "text": "Code: 118822",
        "headers": {"Message-ID": "<given@acme.test>", "Date": "Tue, 24 Nov 2026 09:30:00 +0000"},
    }
    first = post(live_server, headers=TOKEN, json=body)
    again = post(live_server, headers=TOKEN, json=body)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json()["deliveries"][0]["duplicate"] is True
    message_id = first.json()["deliveries"][0]["message_id"]
    raw = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/messages/{message_id}/raw",
        headers=bearer(account["inbox_key"]),
    ).content
    assert raw.count(b"Message-ID:") == 1 and b"Message-ID: <given@acme.test>" in raw
    assert b"Date: Tue, 24 Nov 2026 09:30:00 +0000" in raw


def test_size_limits_follow_the_message_limit(live_server: LiveServer) -> None:
    """Both forms take messages up to DISPATCH_MAX_MESSAGE_BYTES (above the 1 MiB JSON cap of
    the other routes) and refuse larger ones as message_too_large."""
    account = signup(live_server.base_url, local_part="hook-size")
    limit = live_server.settings.inbound.max_message_bytes
    text = "Your code is 246810.\n" + "x" * (2 * 1024 * 1024)
    assert len(text) < limit
    accepted = post(
        live_server, headers=TOKEN, json={"to": "hook-size@dispatch.test", "text": text}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["deliveries"][0]["inbox_id"] == account["inbox"]["id"]
    for response in (
        post(
            live_server, headers=TOKEN, json={"to": "hook-size@dispatch.test", "text": "x" * limit}
        ),
        post(
            live_server,
            headers={**TOKEN, "content-type": "message/rfc822"},
            content=b"To: hook-size@dispatch.test\r\n\r\n" + b"x" * limit,
        ),
    ):
        assert (response.status_code, response.json()["error"]["code"]) == (
            413,
            "message_too_large",
        )


def test_json_form_text_never_becomes_a_header_line(live_server: LiveServer) -> None:
    """Encoded-words in the fields are text (CVE-2024-6923 class); see tests/hostile."""
    account = signup(live_server.base_url, local_part="hook-inject")
    subject = "Hello=?UTF-8?Q?=0A?=X-Spam-Flag: YES"
    response = post(
        live_server,
        headers=TOKEN,
        json={
            "to": "hook-inject@dispatch.test",
            "from": "=?UTF-8?Q?security=40bank.example?= <attacker@evil.example>",
            "subject": subject,
            "text": "hi",
            "headers": {"X-Note": "hi=?UTF-8?Q?=0D=0A?=Bcc: victim@example.com"},
        },
    )
    assert response.status_code == 201, response.text
    delivery = response.json()["deliveries"][0]
    assert delivery["folder"] == "inbox"
    base = f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/messages"
    key = bearer(account["inbox_key"])
    message = httpx.get(f"{base}/{delivery['message_id']}", headers=key).json()
    assert message["subject"] == subject
    assert message["from_address"] == "attacker@evil.example"
    raw = httpx.get(f"{base}/{delivery['message_id']}/raw", headers=key).content
    names = BytesParser(policy=email.policy.compat32).parsebytes(raw).keys()
    intended = ["From", "To", "Subject", "Date", "Message-ID", "X-Note", "MIME-Version"]
    assert sorted(names) == sorted([*intended, "Content-Type", "Content-Transfer-Encoding"])


def test_json_form_control_characters_are_a_400_naming_the_field(live_server: LiveServer) -> None:
    base = {"to": "x@dispatch.test", "text": "a"}
    for body, param in (
        ({**base, "subject": "Hello\r\nBcc: v@example.com"}, "subject"),
        ({**base, "subject": "Hello\u2028X-Spam-Flag: YES"}, "subject"),
        ({**base, "from": "a@acme.test\nBcc: v@example.com"}, "from"),
        ({**base, "to": ["x@dispatch.test\x85"]}, "to"),
        ({**base, "headers": {"X-A": "b\rX-Spam-Flag: YES"}}, "headers"),
        ({**base, "headers": {"X-A\n": "b"}}, "headers"),
    ):
        response = post(live_server, headers=TOKEN, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["param"] == param, body


def _many(count: int) -> list[str]:
    return [f"r{i}@dispatch.test" for i in range(count)]


def test_too_many_recipients_answer_400_at_once(live_server: LiveServer) -> None:
    """20,000 addresses are refused without holding up the server: /health keeps answering
    while they are sent (composing them took seconds on the event loop)."""
    signup(live_server.base_url, local_part="hook-many")
    limit = live_server.settings.inbound.max_recipients
    base = {"to": "hook-many@dispatch.test", "text": "a"}
    bodies = [
        ({**base, "to": _many(20_000)}, "to"),
        ({**base, "to": [", ".join(_many(20_000))]}, "to"),
        ({**base, "to": _many(limit + 1)}, "to"),
    ] + [
        ({**base, "headers": {name: ", ".join(_many(20_000))}}, "headers")
        for name in ("To", "Cc", "Bcc")
    ]
    health: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            health.append(httpx.get(f"{live_server.base_url}/health", timeout=2).status_code)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for body, param in bodies:
            response = post(live_server, headers=TOKEN, json=body, timeout=10)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["param"] == param
        raw = make_mail("hook-many@dispatch.test")
        response = post(
            live_server,
            headers={**TOKEN, "content-type": "message/rfc822"},
            params={"to": _many(limit + 1)},
            content=raw,
        )
        assert (response.status_code, response.json()["error"]["param"]) == (400, "to")
    finally:
        done.set()
        poller.join()
    assert health and set(health) == {200}
    accepted = post(
        live_server, headers=TOKEN, json={**base, "to": ["hook-many@dispatch.test"] * limit}
    )
    assert accepted.status_code == 201, accepted.text


def test_headerless_messages_are_unparseable(live_server: LiveServer) -> None:
    signup(live_server.base_url, local_part="hook-empty")
    for raw in (b"", b"   \r\n\r\n", b"\r\n\r\nbody", b"just some text\r\n"):
        response = post(
            live_server,
            headers={**TOKEN, "content-type": "message/rfc822"},
            params={"to": "hook-empty@dispatch.test"},
            content=raw,
        )
        assert response.status_code == 422, raw
        assert response.json()["error"]["code"] == "unparseable_message"
