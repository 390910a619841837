"""Idempotency-Key on the routes that create things, over real HTTP on both databases."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_client import Dispatch
from dispatch_server.db import tables as t
from tests.conftest import LiveServer
from tests.helpers import bearer, error_code, signup


class Account:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.signup = signup(server.base_url)
        self.headers = bearer(self.signup["account_key"])

    def create_inbox(self, key: str | None, **body: Any) -> httpx.Response:
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return httpx.post(f"{self.server.base_url}/v1/inboxes", json=body, headers=headers)

    def inbox_ids(self) -> list[str]:
        page = httpx.get(f"{self.server.base_url}/v1/inboxes?limit=100", headers=self.headers)
        return [inbox["id"] for inbox in page.json()["data"]]


def test_the_same_request_with_the_same_key_is_answered_once(live_server: LiveServer) -> None:
    account = Account(live_server)
    first = account.create_inbox("key-1", local_part="once")
    again = account.create_inbox("key-1", local_part="once")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert account.inbox_ids().count(first.json()["id"]) == 1
    assert len(account.inbox_ids()) == 2  # the signup's inbox and this one


def test_another_request_with_the_key_is_refused(live_server: LiveServer) -> None:
    account = Account(live_server)
    assert account.create_inbox("key-2", local_part="first").status_code == 201
    other = account.create_inbox("key-2", local_part="second")
    assert other.status_code == 409
    assert error_code(other) == "idempotency_key_reused"
    assert other.json()["error"]["param"] == "Idempotency-Key"
    assert len(account.inbox_ids()) == 2


def test_concurrent_duplicates_create_once(live_server: LiveServer) -> None:
    account = Account(live_server)
    answers: list[httpx.Response] = []
    start = threading.Barrier(8)

    def send() -> None:
        start.wait()
        answers.append(account.create_inbox("key-3", local_part="racing"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [a for a in answers if a.status_code == 201]
    busy = [a for a in answers if a.status_code == 409]
    assert len(created) + len(busy) == 8
    assert created and all(error_code(a) == "idempotency_key_in_use" for a in busy)
    assert len({a.json()["id"] for a in created}) == 1
    assert len(account.inbox_ids()) == 2


def test_an_error_is_not_kept_so_a_retry_runs_again(live_server: LiveServer) -> None:
    account = Account(live_server)
    taken = account.signup["inbox"]["address"].split("@")[0]
    refused = account.create_inbox("key-4", local_part=taken)
    assert refused.status_code == 409 and error_code(refused) == "address_taken"
    again = account.create_inbox("key-4", local_part=taken)
    assert again.status_code == 409 and error_code(again) == "address_taken"
    assert "idempotent-replayed" not in again.headers
    # The key is free for the request, corrected or not.
    assert account.create_inbox("key-4", local_part=taken).status_code == 409
    fixed = account.create_inbox("key-4b", local_part=f"{taken}-2")
    assert fixed.status_code == 201


def test_keys_belong_to_the_api_key_that_sent_them(live_server: LiveServer) -> None:
    one, other = Account(live_server), Account(live_server)
    mine = one.create_inbox("shared-key", local_part="mine")
    theirs = other.create_inbox("shared-key", local_part="theirs")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


@pytest.mark.parametrize("key", ["", "a" * 256, "has space", "tab\tkey", "ключ"])
def test_a_malformed_key_is_a_400_naming_the_header(live_server: LiveServer, key: str) -> None:
    account = Account(live_server)
    headers = {name.encode(): value.encode() for name, value in account.headers.items()}
    headers[b"idempotency-key"] = key.encode()  # as bytes: httpx sends str headers as ASCII
    headers[b"content-type"] = b"application/json"
    response = httpx.post(
        f"{live_server.base_url}/v1/inboxes", content=b'{"local_part": "bad-key"}', headers=headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert len(account.inbox_ids()) == 1


def test_a_key_is_kept_for_a_day(live_server: LiveServer) -> None:
    account = Account(live_server)
    assert account.create_inbox("key-5", local_part="yesterday").status_code == 201

    async def age() -> None:
        engine = create_async_engine(live_server.database_url)
        async with engine.begin() as conn:
            await conn.execute(
                t.idempotency_keys.update()
                .where(t.idempotency_keys.c.idempotency_key == "key-5")
                .values(created_at=datetime.now(UTC) - timedelta(hours=25))
            )
        await engine.dispose()

    asyncio.run(age())
    reused = account.create_inbox("key-5", local_part="today")
    assert reused.status_code == 201
    assert "idempotent-replayed" not in reused.headers
    assert len(account.inbox_ids()) == 3


def test_minting_a_key_keeps_no_answer(live_server: LiveServer) -> None:
    """A new key's secret is shown once and stored nowhere in clear, so minting keeps no
    answer to replay: the header is not read there, and each call mints a key."""
    account = Account(live_server)
    inbox_id = account.signup["inbox"]["id"]
    url = f"{live_server.base_url}/v1/inboxes/{inbox_id}/keys"
    headers = {**account.headers, "Idempotency-Key": "mint-1"}
    first = httpx.post(url, json={"label": "ci"}, headers=headers)
    again = httpx.post(url, json={"label": "ci"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["key"] != first.json()["key"]
    assert "idempotent-replayed" not in again.headers


def test_the_sdk_retrying_with_its_key_creates_once(live_server: LiveServer) -> None:
    account = Account(live_server)
    with Dispatch(api_key=account.signup["account_key"], base_url=live_server.base_url) as d:
        first = d.inboxes.create(local_part="sdk-once", idempotency_key="sdk-key")
        again = d.inboxes.create(local_part="sdk-once", idempotency_key="sdk-key")
    assert first.id == again.id
    assert len(account.inbox_ids()) == 2
