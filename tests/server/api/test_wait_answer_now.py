"""A wait answered in the hub's turn: its answer is sent through the request's own ASGI send,
and when that send must wait (the client does not read), the wait's task sends the rest."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from dispatch_server.api.waits import _AnswerNow
from dispatch_server.events.hub import Arrival

pytestmark = pytest.mark.anyio


def arrival_answered_by(response: Response) -> Arrival:
    arrival = Arrival.__new__(Arrival)
    arrival.rendered = response
    return arrival


async def receive() -> Any:
    raise AssertionError("not read")


async def test_an_answer_sent_at_once_goes_through_the_requests_send() -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    answer_now = _AnswerNow(Request({"type": "http"}, receive, send))
    assert answer_now(arrival_answered_by(Response(b'{"matched":true}')))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    await answer_now.finish()
    assert sent[1]["body"] == b'{"matched":true}'


async def test_a_send_that_must_wait_is_finished_by_the_waits_task() -> None:
    sent: list[Any] = []
    drained = asyncio.get_running_loop().create_future()

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            await drained  # writes paused: as uvicorn's send waits for the buffer to drain
        sent.append(message)

    answer_now = _AnswerNow(Request({"type": "http"}, receive, send))
    assert answer_now(arrival_answered_by(Response(b"{}")))
    assert [m["type"] for m in sent] == ["http.response.start"]
    finishing = asyncio.ensure_future(answer_now.finish())
    await asyncio.sleep(0.01)
    assert not finishing.done()
    drained.set_result(None)
    await asyncio.wait_for(finishing, 1)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_a_send_that_fails_fails_the_waits_task() -> None:
    async def send(message: Any) -> None:
        raise RuntimeError("broken")

    answer_now = _AnswerNow(Request({"type": "http"}, receive, send))
    assert answer_now(arrival_answered_by(Response(b"{}")))
    with pytest.raises(RuntimeError, match="broken"):
        await answer_now.finish()
