"""Inbox keys the client mints and caches: single-flight minting from an account key on a
403, forgetting a revoked cached key on a 401, and keys never shown."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from dispatch_client import (
    AuthenticationError,
    DispatchError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from dispatch_client._core import Credentials
from tests.sdk.helpers import (
    ACCOUNT,
    CONCURRENT_CALLS,
    CREATED_KEY,
    INBOX_ID,
    KEYS,
    MESSAGES,
    MINTED,
    NewInbox,
    Recorder,
    async_client,
    error,
    page,
    summary,
    sync_client,
)


def test_account_key_mints_an_inbox_key_once_and_caches_it() -> None:
    recorder = Recorder(
        error(403, "forbidden"),
        httpx.Response(201, json=CREATED_KEY),
        page(summary(1)),
        page(summary(1)),
    )
    client = sync_client(recorder)
    assert client.messages.list(INBOX_ID).data[0].from_ == "Acme <a@acme.test>"
    assert client.messages.list(INBOX_ID).data[0].subject == "Message 1"
    assert recorder.paths == [MESSAGES, KEYS, MESSAGES, MESSAGES]
    assert [recorder.auth(i) for i in range(4)] == [ACCOUNT, ACCOUNT, MINTED, MINTED]
    assert recorder.requests[1].method == "POST"
    assert client.inbox_keys == {INBOX_ID: MINTED}


def test_preseeded_inbox_keys_are_used_directly() -> None:
    recorder = Recorder(page())
    sync_client(recorder, inbox_keys={INBOX_ID: MINTED}).messages.list(INBOX_ID)
    assert (recorder.paths, recorder.auth(0)) == ([MESSAGES], MINTED)


def test_a_key_that_cannot_mint_keeps_the_original_error() -> None:
    recorder = Recorder(error(403, "forbidden"), error(403, "forbidden"))
    client = sync_client(recorder)
    with pytest.raises(PermissionDeniedError):
        client.messages.list(INBOX_ID)
    assert recorder.paths == [MESSAGES, KEYS]
    assert client.inbox_keys == {}


def test_foreign_inbox_is_not_found() -> None:
    recorder = Recorder(error(403, "forbidden"), error(404, "not_found"))
    with pytest.raises(NotFoundError):
        sync_client(recorder).otp.latest(INBOX_ID)


def test_a_failed_mint_raises_its_own_error() -> None:
    recorder = Recorder(error(403, "forbidden"), error(500, "internal_error"))
    with pytest.raises(InternalServerError):
        sync_client(recorder).messages.list(INBOX_ID)


def test_a_revoked_cached_key_is_replaced() -> None:
    recorder = Recorder(
        error(401, "unauthorized"),
        error(403, "forbidden"),
        httpx.Response(201, json={**CREATED_KEY, "key": "new.key"}),
        page(),
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: "old.key"})
    assert client.messages.list(INBOX_ID).data == ()
    assert [recorder.auth(i) for i in range(4)] == ["old.key", ACCOUNT, ACCOUNT, "new.key"]
    assert client.inbox_keys == {INBOX_ID: "new.key"}


def test_inbox_key_client_without_account_key_reports_401() -> None:
    recorder = Recorder(error(401, "unauthorized"))
    client = sync_client(recorder, api_key=MINTED, inbox_keys={INBOX_ID: MINTED})
    with pytest.raises(AuthenticationError):
        client.messages.list(INBOX_ID)
    assert len(recorder.requests) == 1


def test_concurrent_threads_mint_one_inbox_key() -> None:
    server = NewInbox()
    probes = threading.Barrier(CONCURRENT_CALLS, timeout=10)
    guard = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with guard:
            answer = server.answer(request)
        if answer is not None:
            time.sleep(0.05)  # a slow mint: the other threads are waiting for a key meanwhile
            return answer
        probes.wait()
        return error(403, "forbidden")

    client = sync_client(handler)
    with ThreadPoolExecutor(CONCURRENT_CALLS) as pool:
        pages = list(pool.map(lambda _: client.messages.list(INBOX_ID), range(CONCURRENT_CALLS)))
    assert server.minted == [f"{MINTED}-0"]
    assert len(pages) == CONCURRENT_CALLS and not any(p.data for p in pages)
    assert client.inbox_keys == {INBOX_ID: f"{MINTED}-0"}


@pytest.mark.anyio
async def test_concurrent_tasks_mint_one_inbox_key() -> None:
    server = NewInbox()
    probes = asyncio.Barrier(CONCURRENT_CALLS)

    async def handler(request: httpx.Request) -> httpx.Response:
        answer = server.answer(request)
        if answer is not None:
            await asyncio.sleep(0.05)  # a slow mint: the other tasks are waiting meanwhile
            return answer
        await asyncio.wait_for(probes.wait(), 10)
        return error(403, "forbidden")

    async with async_client(handler) as client:
        pages = await asyncio.gather(
            *(client.messages.list(INBOX_ID) for _ in range(CONCURRENT_CALLS))
        )
    assert server.minted == [f"{MINTED}-0"]
    assert len(pages) == CONCURRENT_CALLS and not any(p.data for p in pages)
    assert client.inbox_keys == {INBOX_ID: f"{MINTED}-0"}


def test_a_replaced_key_is_not_forgotten_by_a_late_caller() -> None:
    credentials = Credentials(api_key=ACCOUNT, inbox_keys={INBOX_ID: "new.key"})
    credentials.forget(INBOX_ID, "old.key")  # a call that still held the revoked key
    assert credentials.inbox_keys == {INBOX_ID: "new.key"}
    credentials.forget(INBOX_ID, "new.key")
    assert credentials.inbox_keys == {}


def test_forgetting_by_key_id_needs_the_whole_id() -> None:
    credentials = Credentials(api_key=ACCOUNT, inbox_keys={INBOX_ID: "abc.secret"})
    credentials.forget_key_id(INBOX_ID, "ab")
    credentials.forget_key_id("other", "abc")
    assert credentials.inbox_keys == {INBOX_ID: "abc.secret"}
    credentials.forget_key_id(INBOX_ID, "abc")
    assert credentials.inbox_keys == {}


def test_a_malformed_minted_key_is_refused_without_showing_it() -> None:
    minted = httpx.Response(201, json={**CREATED_KEY, "key": "new\nkey.hunter2"})
    recorder = Recorder(error(403, "forbidden"), minted)
    with pytest.raises(DispatchError, match=f"inbox key for {INBOX_ID} is malformed") as caught:
        sync_client(recorder).messages.list(INBOX_ID)
    assert "hunter2" not in str(caught.value)
