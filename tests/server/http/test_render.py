"""Answers: a page kept within its byte budget, and large JSON streamed in slices that add up
to what JSONResponse renders."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import attrs
import pytest
from starlette.responses import JSONResponse, StreamingResponse

from dispatch_server.http import render
from dispatch_server.http.shapes import Page, within

pytestmark = pytest.mark.anyio


@attrs.frozen
class Item:
    id: str
    text: str


def after(item: Item) -> str:
    return f"after-{item.id}"


def test_a_page_within_its_budget_is_kept_whole() -> None:
    page = Page([Item("a", "x" * 100), Item("b", "y" * 100)], "next")
    assert within(page, 1000, after) is page


def test_a_page_past_its_budget_stops_before_the_item_that_passes_it() -> None:
    page = Page([Item(str(i), "x" * 400) for i in range(5)], None)
    cut = within(page, 1000, after)  # each item is ~420 bytes of JSON
    assert [item.id for item in cut.data] == ["0", "1"]
    assert cut.next_cursor == "after-1"


def test_one_item_above_the_budget_is_still_a_page() -> None:
    page = Page([Item("big", "x" * 5000), Item("next", "")], None)
    cut = within(page, 1000, after)
    assert [item.id for item in cut.data] == ["big"] and cut.next_cursor == "after-big"


DATA: list[Any] = [
    {"a": 1, "b": [True, None, 2.5, 'é\n"\\\u2028\x01'], "c": {}, "d": []},
    {"text": "x" * (render.SLICE_CHARS * 3 + 7), "html": 'é"\n' * render.SLICE_CHARS},
    ["€" * (render.SLICE_CHARS + 1), {"nested": ["\x00" * 10]}],
]


@pytest.mark.parametrize("data", DATA)
def test_pieces_join_up_to_what_json_response_renders(data: Any) -> None:
    assert "".join(render.pieces(data)).encode() == JSONResponse(data).body


async def test_large_answers_are_streamed_and_small_ones_are_not() -> None:
    small = render.json_response({"text": "x" * 1000}, 200)
    assert isinstance(small, JSONResponse)
    data = {"text": "hé\n" * (render.STREAM_ABOVE_CHARS)}
    large = render.json_response(data, 201)
    assert isinstance(large, StreamingResponse) and large.status_code == 201
    chunks = [chunk async for chunk in large.body_iterator]
    assert len(chunks) > 1
    body = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
    assert json.loads(body) == data


async def test_streaming_a_large_answer_leaves_the_loop_free() -> None:
    """20 MB of text: rendered in one go, json.dumps holds the loop for tens of ms."""
    data = {"text": "Lorem ipsum\n" * 900_000, "html": "<p>Lorem ipsum</p>" * 600_000}
    response = render.json_response(data, 200)
    assert isinstance(response, StreamingResponse)
    worst = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst
        while not done:
            started = time.perf_counter()
            await asyncio.sleep(0)
            worst = max(worst, time.perf_counter() - started)

    ticker = asyncio.create_task(tick())
    async for _ in response.body_iterator:
        pass
    done = True
    await ticker
    assert worst < 0.015, f"the loop was held {worst * 1000:.1f} ms"
