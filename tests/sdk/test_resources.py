"""Each resource's requests and results, for the sync and the async client."""

from __future__ import annotations

import json

import httpx
import pytest

import dispatch_client
from dispatch_client import DispatchError, NotFoundError
from tests.sdk.helpers import (
    ACCOUNT,
    CREATED_KEY,
    INBOX,
    INBOX_ID,
    INBOX_KEY,
    KEYS,
    MESSAGES,
    MINTED,
    MINTED_ID,
    NOW,
    Recorder,
    artifact,
    async_client,
    error,
    matched_otp,
    message,
    page,
    summary,
    sync_client,
    unmatched,
)


def test_create_inbox_request_and_decoding() -> None:
    recorder = Recorder(httpx.Response(201, json=INBOX))
    inbox = sync_client(recorder).inboxes.create(local_part="bot")
    [request] = recorder.requests
    assert (request.method, str(request.url)) == ("POST", "http://dispatch.test/v1/inboxes")
    assert json.loads(request.content) == {"local_part": "bot"}
    assert request.headers["authorization"] == f"Bearer {ACCOUNT}"
    assert request.headers["user-agent"] == f"dispatch-python/{dispatch_client.__version__}"
    assert inbox.address == "bot@dispatch.test"
    assert inbox.display_name is None
    assert inbox.created_at.isoformat() == "2026-11-24T09:30:00.123456+00:00"


def test_list_inboxes_is_a_page() -> None:
    recorder = Recorder(
        page(INBOX, cursor="c1"),
        page({**INBOX, "id": "other"}),
    )
    client = sync_client(recorder)
    first = client.inboxes.list(limit=1)
    assert [inbox.id for inbox in first.data] == [INBOX_ID]
    assert [inbox.id for inbox in first] == [INBOX_ID, "other"]  # every page, fetched lazily
    assert recorder.paths == ["/v1/inboxes", "/v1/inboxes"]
    assert [dict(r.url.params) for r in recorder.requests] == [
        {"limit": "1"},
        {"limit": "1", "cursor": "c1"},
    ]
    assert all(recorder.auth(i) == ACCOUNT for i in range(2))


def test_inbox_keys_create_list_and_revoke() -> None:
    other = {**INBOX_KEY, "id": "k2", "label": "ci"}
    recorder = Recorder(
        httpx.Response(201, json={**CREATED_KEY, "label": "ci"}),
        page(INBOX_KEY, other, cursor="k2"),
        page(),
        httpx.Response(200, json={**other, "revoked_at": NOW}),
    )
    client = sync_client(recorder)
    created = client.inboxes.keys.create(INBOX_ID, label="ci")
    assert (created.key, created.label, created.inbox_id) == (MINTED, "ci", INBOX_ID)
    assert client.inbox_keys == {INBOX_ID: MINTED}  # a key you create is used, too
    listed = client.inboxes.keys.list(INBOX_ID, limit=2)
    assert [key.id for key in listed] == [MINTED_ID, "k2"]
    revoked = client.inboxes.keys.revoke(INBOX_ID, "k2")
    assert revoked.revoked_at is not None and revoked.id == "k2"
    assert client.inbox_keys == {INBOX_ID: MINTED}  # another key: the cached one stays
    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("POST", KEYS),
        ("GET", KEYS),
        ("GET", KEYS),
        ("DELETE", f"{KEYS}/k2"),
    ]
    assert json.loads(recorder.requests[0].content) == {"label": "ci"}
    assert dict(recorder.requests[2].url.params) == {"limit": "2", "cursor": "k2"}
    assert all(recorder.auth(i) == ACCOUNT for i in range(4))  # never an inbox key


def test_revoking_the_cached_key_forgets_it() -> None:
    recorder = Recorder(
        httpx.Response(200, json={**INBOX_KEY, "revoked_at": NOW}),
        error(403, "forbidden"),
        httpx.Response(201, json={**CREATED_KEY, "key": "new.key"}),
        page(),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED, "other": "other.key"})
    client.inboxes.keys.revoke(INBOX_ID, MINTED_ID)
    assert client.inbox_keys == {"other": "other.key"}
    client.messages.list(INBOX_ID)  # the account key again, which mints a new inbox key
    assert [recorder.auth(i) for i in range(4)] == [ACCOUNT, ACCOUNT, ACCOUNT, "new.key"]
    assert client.inbox_keys == {"other": "other.key", INBOX_ID: "new.key"}


def test_a_failed_revoke_forgets_nothing() -> None:
    recorder = Recorder(error(404, "not_found"))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(NotFoundError):
        client.inboxes.keys.revoke(INBOX_ID, MINTED_ID)
    assert client.inbox_keys == {INBOX_ID: MINTED}


def test_get_inbox_with_an_account_key_does_not_mint() -> None:
    recorder = Recorder(httpx.Response(200, json=INBOX))
    assert sync_client(recorder).inboxes.get(INBOX_ID).id == INBOX_ID
    assert recorder.paths == [f"/v1/inboxes/{INBOX_ID}"]


def test_raw_message_is_bytes() -> None:
    raw = b"From: Acme <a@acme.test>\r\nSubject: hi\r\n\r\nbody"
    recorder = Recorder(
        httpx.Response(200, content=raw, headers={"content-type": "message/rfc822"})
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert client.messages.raw(INBOX_ID, "m1") == raw
    assert recorder.requests[0].url.path == f"{MESSAGES}/m1/raw"
    assert recorder.requests[0].headers["accept"] == "message/rfc822"


def test_latest_otp() -> None:
    otp = {"code": "482913", "message_id": "m9", "from": "x@y", "subject": "s", "received_at": NOW}
    recorder = Recorder(
        httpx.Response(200, json={"otp": otp}), httpx.Response(200, json={"otp": None})
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    latest = client.otp.latest(INBOX_ID)
    assert latest is not None and (latest.code, latest.from_) == ("482913", "x@y")
    assert client.otp.latest(INBOX_ID) is None


def test_ids_are_one_encoded_path_segment() -> None:
    recorder = Recorder(*[error(404, "not_found")] * 4)
    client = sync_client(recorder, inbox_keys={"ib": MINTED, "a/b?c#d": MINTED})
    with pytest.raises(NotFoundError):
        client.messages.get("ib", "../../../inboxes")
    with pytest.raises(NotFoundError):
        client.messages.raw("a/b?c#d", "m 1")
    with pytest.raises(NotFoundError):
        client.otp.latest("a/b?c#d")
    with pytest.raises(NotFoundError):
        client.inboxes.keys.revoke("ib", "../k?x")
    assert [r.url.raw_path for r in recorder.requests] == [  # raw_path: the query too
        b"/v1/inboxes/ib/messages/..%2F..%2F..%2Finboxes",
        b"/v1/inboxes/a%2Fb%3Fc%23d/messages/m%201/raw",
        b"/v1/inboxes/a%2Fb%3Fc%23d/otp",
        b"/v1/inboxes/ib/keys/..%2Fk%3Fx",
    ]


@pytest.mark.parametrize("bad", ["", "  ", ".", ".."])
def test_empty_ids_are_refused_before_sending(bad: str) -> None:
    recorder = Recorder()
    client = sync_client(recorder)
    with pytest.raises(DispatchError, match="inbox_id must be a non-empty id"):
        client.messages.list(bad)
    with pytest.raises(DispatchError, match="message_id must be a non-empty id"):
        client.messages.get(INBOX_ID, bad)
    with pytest.raises(DispatchError, match="inbox_id must be a non-empty id"):
        client.otp.wait_for_otp(bad)
    with pytest.raises(DispatchError, match="inbox_id must be a non-empty id"):
        client.inboxes.keys.create(bad)
    with pytest.raises(DispatchError, match="key_id must be a non-empty id"):
        client.inboxes.keys.revoke(INBOX_ID, bad)
    assert recorder.requests == []


def test_resources_are_cached_per_client() -> None:
    client = sync_client(Recorder())
    assert client.messages is client.messages
    assert client.inboxes.keys is client.inboxes.keys


@pytest.mark.anyio
async def test_async_client_shares_the_same_calls() -> None:
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json=CREATED_KEY),
        unmatched,
        matched_otp,
        page(summary(1), cursor="c1"),
        page(summary(2), cursor="c2"),
        page(summary(3)),
        error(503, "unavailable"),
        page(INBOX),
    )
    async with async_client(recorder) as client:
        assert await client.otp.wait_for_otp(INBOX_ID, timeout=10) == "482913"
        assert [m.id async for m in client.messages.list(INBOX_ID)] == ["m1", "m2", "m3"]
        assert [i.id for i in (await client.inboxes.list()).data] == [INBOX_ID]
    assert recorder.paths[:3] == [
        f"/v1/inboxes/{INBOX_ID}/wait",
        KEYS,
        f"/v1/inboxes/{INBOX_ID}/wait",
    ]
    assert [r.url.params.get("cursor") for r in recorder.requests[4:7]] == [None, "c1", "c2"]
    assert [recorder.auth(i) for i in range(9)] == [ACCOUNT] * 2 + [MINTED] * 5 + [ACCOUNT] * 2
    assert client.inbox_keys == {INBOX_ID: MINTED}


@pytest.mark.anyio
async def test_async_resources() -> None:
    raw = b"Subject: hi\r\n\r\nbody"
    recorder = Recorder(
        httpx.Response(201, json=INBOX),
        httpx.Response(200, json=INBOX),
        httpx.Response(201, json=CREATED_KEY),
        httpx.Response(200, json={**message(9), "artifacts": [artifact("otp", "1234")]}),
        httpx.Response(200, content=raw),
        httpx.Response(200, json={"otp": None}),
        page(artifact("link", "https://a.test")),
        page(artifact("otp", "1234")),
        unmatched,
        page(INBOX_KEY),
        httpx.Response(200, json={**INBOX_KEY, "revoked_at": NOW}),
    )
    async with async_client(recorder) as client:
        assert (await client.inboxes.create(display_name="Bot")).id == INBOX_ID
        assert (await client.inboxes.get(INBOX_ID)).address == "bot@dispatch.test"
        assert (await client.inboxes.keys.create(INBOX_ID)).key == MINTED
        assert (await client.messages.get(INBOX_ID, "m9")).otp == "1234"
        assert await client.messages.raw(INBOX_ID, "m9") == raw
        assert await client.otp.latest(INBOX_ID) is None
        assert (await client.artifacts.list(INBOX_ID, kind="link")).data[0].kind == "link"
        assert [a.value async for a in client.artifacts.list(INBOX_ID)] == ["1234"]
        assert not (await client.messages.wait(INBOX_ID, timeout=1)).matched
        assert [k.id async for k in client.inboxes.keys.list(INBOX_ID)] == [MINTED_ID]
        assert (await client.inboxes.keys.revoke(INBOX_ID, MINTED_ID)).revoked_at is not None
    assert json.loads(recorder.requests[0].content) == {"display_name": "Bot"}
    assert [recorder.auth(i) for i in range(3)] == [ACCOUNT] * 3
    assert all(recorder.auth(i) == MINTED for i in range(3, 9))
    assert [recorder.auth(i) for i in (9, 10)] == [ACCOUNT] * 2
    assert client.inbox_keys == {}  # the revoked key was the cached one
