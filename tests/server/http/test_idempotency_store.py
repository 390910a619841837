"""What a key is left as when the route fails, on both databases (the route run in process)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch_server.core.errors import InvalidInput
from dispatch_server.db import Database
from dispatch_server.domain import workspaces
from dispatch_server.http import idempotency
from dispatch_server.http.idempotency import IdempotencyKeyInUse, answer_once

pytestmark = pytest.mark.anyio


def post(path: str = "/v1/inboxes") -> Request:
    return Request({"type": "http", "method": "POST", "path": path, "headers": []})


async def api_key(db: Database) -> str:
    signed_up = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part="idem"
    )
    return signed_up.account_key.split(".", 1)[0]  # "<key_id>.<secret>"


async def test_a_refusal_frees_the_key_and_a_crash_keeps_it_claimed(db: Database) -> None:
    key_id = await api_key(db)
    runs = 0

    async def refused() -> Response:
        nonlocal runs
        runs += 1
        raise InvalidInput("no", param="local_part")

    async def crashed() -> Response:
        nonlocal runs
        runs += 1
        raise RuntimeError("after its commit, perhaps")

    async def created() -> Response:
        nonlocal runs
        runs += 1
        return JSONResponse({"id": "x"}, status_code=201)

    for _ in range(2):  # refused twice: each time it runs, the key free again
        with pytest.raises(InvalidInput):
            await answer_once(db, post(), b"{}", key_id, "k1", refused)
    assert runs == 2
    with pytest.raises(RuntimeError):
        await answer_once(db, post(), b"{}", key_id, "k2", crashed)
    with pytest.raises(IdempotencyKeyInUse):  # never a second run
        await answer_once(db, post(), b"{}", key_id, "k2", created)
    assert runs == 3


async def test_a_cancelled_request_keeps_its_key_claimed(db: Database) -> None:
    key_id = await api_key(db)
    started = asyncio.Event()

    async def slow() -> Response:
        started.set()
        await asyncio.sleep(60)
        return JSONResponse({}, status_code=201)

    task = asyncio.ensure_future(answer_once(db, post(), b"{}", key_id, "k3", slow))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def again() -> Response:
        raise AssertionError("ran a second time")

    with pytest.raises(IdempotencyKeyInUse):
        await answer_once(db, post(), b"{}", key_id, "k3", again)


async def test_a_success_is_replayed_and_another_request_refused(db: Database) -> None:
    key_id = await api_key(db)

    async def created() -> Response:
        return JSONResponse({"id": "inbox_1"}, status_code=201)

    first = await answer_once(db, post(), b'{"a":1}', key_id, "k4", created)
    again = await answer_once(db, post(), b'{"a":1}', key_id, "k4", created)
    assert (again.status_code, again.body) == (first.status_code, first.body)
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    with pytest.raises(idempotency.IdempotencyKeyReused):
        await answer_once(db, post(), b'{"a":2}', key_id, "k4", created)
    with pytest.raises(idempotency.IdempotencyKeyReused):  # another path is another request
        await answer_once(db, post("/v1/other"), b'{"a":1}', key_id, "k4", created)
