"""Webhook endpoints and deliveries against a running server on both databases: CRUD and its
refusals, deliveries verified with an independent Standard Webhooks implementation, retries
with backoff, disabling, the delivery log, replay and secret rotation. The server sends its
own deliveries (DISPATCH_WEBHOOK_DELIVER_IN_API) on a schedule of tenths of seconds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import (
    BACKENDS,
    LiveServer,
    _ServerThread,
    fresh_database_url,
    make_settings,
)
from tests.helpers import bearer, error_code, signup
from tests.webhook_receiver import Receiver, Reply, receiver

ENDPOINTS = "/v1/webhooks/endpoints"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    url = next(urls)
    settings = make_settings(
        url,
        DISPATCH_WEBHOOK_ALLOW_LOOPBACK="true",
        DISPATCH_WEBHOOK_DELIVER_IN_API="true",
        DISPATCH_WEBHOOK_RETRY_SCHEDULE="0.2,0.4",
        DISPATCH_WEBHOOK_DISABLE_AFTER="2",
        DISPATCH_WEBHOOK_POLL_SECONDS="0.05",
        DISPATCH_WEBHOOK_TIMEOUT_SECONDS="2",
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


class Account:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.key = signup(server.base_url)["account_key"]
        self.http = httpx.Client(base_url=server.base_url, headers=bearer(self.key), timeout=10)

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.http.post(ENDPOINTS, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def new_inbox(self) -> dict[str, Any]:
        """An `inbox.created` event."""
        response = self.http.post("/v1/inboxes", json={})
        assert response.status_code == 201, response.text
        inbox: dict[str, Any] = response.json()
        return inbox

    def deliveries(self, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
        response = self.http.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", params=params)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["data"]
        return found

    def endpoint(self, endpoint_id: str) -> dict[str, Any]:
        response = self.http.get(f"{ENDPOINTS}/{endpoint_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


# --- endpoints ---------------------------------------------------------------------------


def test_endpoint_crud(server: LiveServer, hook: Receiver) -> None:
    account = Account(server)
    created = account.create(url=hook.url, description="mine")
    assert created["secret"].startswith("whsec_")
    assert len(__import__("base64").b64decode(created["secret"][6:])) >= 24
    assert created["event_types"] is None and created["enabled"] is True
    endpoint_id = created["id"]
    shown = account.endpoint(endpoint_id)
    assert "secret" not in shown and shown["description"] == "mine"
    listed = account.http.get(ENDPOINTS).json()["data"]
    assert [e["id"] for e in listed] == [endpoint_id]
    changed = account.http.patch(
        f"{ENDPOINTS}/{endpoint_id}",
        json={"event_types": ["inbox.created"], "enabled": False, "description": ""},
    ).json()
    assert changed["event_types"] == ["inbox.created"]
    assert changed["enabled"] is False and changed["disabled_reason"] == "disabled by its owner"
    assert changed["description"] is None
    again = account.http.patch(f"{ENDPOINTS}/{endpoint_id}", json={"enabled": True}).json()
    assert again["enabled"] is True and again["disabled_reason"] is None
    every = account.http.patch(f"{ENDPOINTS}/{endpoint_id}", json={"event_types": ["*"]})
    assert every.json()["event_types"] is None
    deleted = account.http.delete(f"{ENDPOINTS}/{endpoint_id}")
    assert deleted.status_code == 200
    assert account.http.get(f"{ENDPOINTS}/{endpoint_id}").status_code == 404
    # Another workspace sees none of it.
    other = Account(server)
    mine = account.create(url=hook.url)["id"]
    assert other.http.get(f"{ENDPOINTS}/{mine}").status_code == 404
    assert other.http.delete(f"{ENDPOINTS}/{mine}").status_code == 404
    assert other.http.get(f"{ENDPOINTS}/{mine}/deliveries").status_code == 404
    # An inbox key may not manage endpoints.
    inbox_key = signup(server.base_url)["inbox_key"]
    assert httpx.get(server.base_url + ENDPOINTS, headers=bearer(inbox_key)).status_code == 403


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "url"),
        ({"url": None}, "url"),
        ({"url": 5}, "url"),
        ({"url": ""}, "url"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "https://user:pw@example.com/"}, "url"),
        ({"url": "https://example.com/" + "a" * 2048}, "url"),
        ({"url": "https://10.0.0.1/"}, "url"),
        ({"url": "https://[::ffff:10.0.0.1]/"}, "url"),
        ({"url": "https://0x0a.1/"}, "url"),  # 10.0.0.1
        ({"url": "https://[fd00::1]/"}, "url"),
        ({"url": "http://192.168.0.1/"}, "url"),
        ({"url": "https://ex ample.com/"}, "url"),
        ({"url": "https://example.com/\u0000"}, "url"),
        ({"url": "https://example.com/", "event_types": "message.received"}, "event_types"),
        ({"url": "https://example.com/", "event_types": []}, "event_types"),
        ({"url": "https://example.com/", "event_types": ["nope"]}, "event_types"),
        ({"url": "https://example.com/", "event_types": [1]}, "event_types"),
        ({"url": "https://example.com/", "enabled": "yes"}, "enabled"),
        ({"url": "https://example.com/", "description": 3}, "description"),
        ({"url": "https://example.com/", "description": "x" * 501}, "description"),
    ],
)
def test_bad_endpoint_fields_are_400s_naming_the_field(
    server: LiveServer, body: dict[str, Any], param: str
) -> None:
    account = Account(server)
    response = account.http.post(ENDPOINTS, json=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_request"
    assert response.json()["error"]["param"] == param
    endpoint_id = account.create(url="https://example.com/")["id"]
    if param != "enabled" or body.get("enabled") is not None:
        update = {k: v for k, v in body.items() if k == param}
        if update:
            changed = account.http.patch(f"{ENDPOINTS}/{endpoint_id}", json=update)
            if update[param] is not None:
                assert changed.status_code == 400, (update, changed.text)
                assert changed.json()["error"]["param"] == param


def test_unknown_ids_are_404s(server: LiveServer) -> None:
    account = Account(server)
    for path in (
        f"{ENDPOINTS}/nope",
        f"{ENDPOINTS}/00000000-0000-4000-8000-000000000000",
        f"{ENDPOINTS}/00000000-0000-4000-8000-000000000000/deliveries",
    ):
        assert account.http.get(path).status_code == 404
    endpoint_id = account.create(url="https://example.com/")["id"]
    replay = account.http.post(f"{ENDPOINTS}/{endpoint_id}/deliveries/nope/replay")
    assert replay.status_code == 404
    bad_cursor = account.http.get(f"{ENDPOINTS}/{endpoint_id}/deliveries?cursor=xyz")
    assert bad_cursor.status_code == 400


# --- deliveries ----------------------------------------------------------------------------


def test_a_delivery_verifies_with_an_independent_standard_webhooks_implementation(
    server: LiveServer, hook: Receiver
) -> None:
    account = Account(server)
    created = account.create(url=hook.url)
    inbox = account.new_inbox()
    got = hook.take()
    assert got.headers["content-type"] == "application/json"
    payload = Webhook(created["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "inbox.created"
    assert payload["inbox_id"] == inbox["id"]
    assert set(payload) == {"id", "type", "created_at", "inbox_id", "data"}
    assert got.headers["webhook-id"] == f"evt_{inbox['workspace_id']}_{payload['id']}"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook("whsec_" + "A" * 44).verify(got.body, got.headers)
    log = until(
        lambda: [d for d in account.deliveries(created["id"]) if d["status"] == "succeeded"]
    )
    assert log[0]["attempts"] == 1 and log[0]["last_status_code"] == 200
    assert log[0]["webhook_id"] == got.headers["webhook-id"]
    assert log[0]["event_id"] == payload["id"]


def test_only_subscribed_types_and_enabled_endpoints_get_deliveries(
    server: LiveServer, hook: Receiver
) -> None:
    account = Account(server)
    wanted = account.create(url=hook.url + "?wanted", event_types=["inbox.created"])
    account.create(url=hook.url + "?other", event_types=["message.received"])
    account.create(url=hook.url + "?off", enabled=False)
    account.new_inbox()
    got = hook.take()
    assert got.path.endswith("?wanted")
    assert hook.none_within(0.5)
    assert len(account.deliveries(wanted["id"])) == 1


def test_failures_are_retried_with_backoff_then_succeed(server: LiveServer, hook: Receiver) -> None:
    hook.replies = [Reply(status=500), Reply(status=503)]
    account = Account(server)
    created = account.create(url=hook.url)
    account.new_inbox()
    first, second, third = hook.take(), hook.take(), hook.take()
    ids = {r.headers["webhook-id"] for r in (first, second, third)}
    assert len(ids) == 1  # the same id on every attempt: the receiver's dedupe key
    assert first.body == second.body == third.body
    stamps = [int(r.headers["webhook-timestamp"]) for r in (first, second, third)]
    assert stamps == sorted(stamps)
    for got in (first, second, third):
        Webhook(created["secret"]).verify(got.body, got.headers)
    done = until(lambda: [d for d in account.deliveries(created["id"]) if d["completed_at"]])
    assert done[0]["status"] == "succeeded" and done[0]["attempts"] == 3
    assert account.endpoint(created["id"])["consecutive_failures"] == 0


def test_an_endpoint_that_keeps_failing_is_disabled_and_says_why(
    server: LiveServer, hook: Receiver
) -> None:
    hook.default = Reply(status=500)
    account = Account(server)
    created = account.create(url=hook.url)
    endpoint_id = created["id"]
    account.new_inbox()
    account.new_inbox()
    shown = until(lambda: (e := account.endpoint(endpoint_id)) and not e["enabled"] and e)
    assert "2 deliveries in a row failed" in shown["disabled_reason"]
    assert "HTTP 500" in shown["disabled_reason"]
    failed = account.deliveries(endpoint_id, status="failed")
    assert len(failed) == 2 and all(d["attempts"] == 3 for d in failed)
    assert failed[0]["last_status_code"] == 500 and failed[0]["last_error"] == "HTTP 500"
    # Disabled: new events get no deliveries.
    account.new_inbox()
    time.sleep(0.3)
    assert len(account.deliveries(endpoint_id)) == 2
    # Re-enabled, and replayed: sent again, now to a receiver that answers.
    while not hook.received.empty():
        hook.take()
    hook.default = Reply(status=204)
    enabled = account.http.patch(f"{ENDPOINTS}/{endpoint_id}", json={"enabled": True}).json()
    assert enabled["enabled"] and enabled["consecutive_failures"] == 0
    replayed = account.http.post(
        f"{ENDPOINTS}/{endpoint_id}/deliveries/{failed[0]['id']}/replay"
    ).json()
    assert replayed["status"] == "pending" and replayed["attempts"] == 0
    got = hook.take()
    assert got.headers["webhook-id"] == failed[0]["webhook_id"]
    done = until(lambda: [d for d in account.deliveries(endpoint_id) if d["status"] == "succeeded"])
    assert done[0]["id"] == failed[0]["id"] and done[0]["last_status_code"] == 204


def test_a_refused_target_and_a_redirect_are_failed_attempts(
    server: LiveServer, hook: Receiver
) -> None:
    hook.default = Reply(status=302, headers={"location": "http://10.0.0.1/"})
    account = Account(server)
    created = account.create(url=hook.url)
    account.new_inbox()
    failed = until(lambda: account.deliveries(created["id"], status="failed"), timeout=15)
    assert failed[0]["last_status_code"] == 302
    assert "redirects are not followed" in failed[0]["last_error"]


def test_the_delivery_log_pages_newest_first(server: LiveServer, hook: Receiver) -> None:
    account = Account(server)
    created = account.create(url=hook.url)
    for _ in range(3):
        account.new_inbox()
    until(lambda: len(account.deliveries(created["id"], status="succeeded")) == 3)
    first = account.http.get(f"{ENDPOINTS}/{created['id']}/deliveries", params={"limit": 2}).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = account.http.get(
        f"{ENDPOINTS}/{created['id']}/deliveries",
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    ids = [d["event_id"] for d in first["data"] + rest["data"]]
    assert ids == sorted(ids, reverse=True)


def test_a_rotated_secret_signs_beside_the_previous_one(server: LiveServer, hook: Receiver) -> None:
    account = Account(server)
    created = account.create(url=hook.url)
    rotated = account.http.post(f"{ENDPOINTS}/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["secret"] != created["secret"] and new["previous_secret_expires_at"]
    account.new_inbox()
    got = hook.take()
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(new["secret"]).verify(got.body, got.headers)
    Webhook(created["secret"]).verify(got.body, got.headers)
    assert json.loads(got.body)["type"] == "inbox.created"


# --- the SDK ---------------------------------------------------------------------------------


def test_the_sdk_manages_endpoints_and_verifies_what_they_receive(
    server: LiveServer, hook: Receiver
) -> None:
    from dispatch_client import Dispatch, webhooks

    account = Account(server)
    d = Dispatch(api_key=account.key, base_url=server.base_url)
    with d:
        created = d.webhooks.create(hook.url, event_types=["inbox.created"], description="sdk")
        assert created.secret.startswith("whsec_")
        assert d.webhooks.get(created.id).event_types == ("inbox.created",)
        assert [e.id for e in d.webhooks.list()] == [created.id]
        d.inboxes.create()
        got = hook.take()
        event = webhooks.verify(got.body, got.headers, created.secret)
        assert event["type"] == "inbox.created"
        delivery = until(lambda: [x for x in d.webhooks.deliveries(created.id) if x.completed_at])
        assert (
            delivery[0].status == "succeeded"
            and delivery[0].webhook_id == got.headers["webhook-id"]
        )
        replayed = d.webhooks.replay(created.id, delivery[0].id)
        assert replayed.status == "pending"
        assert hook.take().headers["webhook-id"] == got.headers["webhook-id"]
        rotated = d.webhooks.rotate_secret(created.id)
        assert rotated.previous_secret_expires_at is not None
        off = d.webhooks.update(created.id, enabled=False)
        assert not off.enabled and off.disabled_reason
        assert d.webhooks.delete(created.id).id == created.id


@pytest.mark.anyio
async def test_the_async_sdk_manages_endpoints(server: LiveServer, hook: Receiver) -> None:
    from dispatch_client import AsyncDispatch, NotFoundError

    account = Account(server)
    async with AsyncDispatch(api_key=account.key, base_url=server.base_url) as d:
        created = await d.webhooks.create(hook.url)
        assert (await d.webhooks.get(created.id)).url == hook.url
        assert [e.id async for e in d.webhooks.list()] == [created.id]
        page = await d.webhooks.deliveries(created.id, status="failed")
        assert page.data == ()
        await d.webhooks.delete(created.id)
        with pytest.raises(NotFoundError):
            await d.webhooks.get(created.id)
