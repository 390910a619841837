"""JSON answers: small ones rendered in one go, large ones (a message with megabytes of body)
streamed in slices, with the event loop free between two slices.

json.dumps holds the GIL from start to end, so rendering 20 MB in a worker thread would
stall the loop as much as rendering it on the loop (~80 ms); slices of 64 K characters take
well under a millisecond each.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

STREAM_ABOVE_CHARS = 256 * 1024
SLICE_CHARS = 64 * 1024

# As Starlette's JSONResponse renders, so both kinds of answer read alike.
_dumps = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False)


def json_response(data: Any, status_code: int) -> Response:
    """`data` (JSON-ready: dicts, lists, strings, numbers, None) as the answer."""
    if not _longer_than(data, STREAM_ABOVE_CHARS):
        return JSONResponse(data, status_code=status_code)
    return StreamingResponse(_stream(data), status_code=status_code, media_type="application/json")


def _longer_than(data: Any, chars: int) -> bool:
    """Whether the strings in `data` add up to more than `chars` characters: about the size
    of its JSON, found without rendering it."""
    total = 0
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        if total > chars:
            return True
    return False


async def _stream(data: Any) -> AsyncIterator[bytes]:
    buffered: list[str] = []
    size = 0
    for piece in pieces(data):
        buffered.append(piece)
        size += len(piece)
        if size >= SLICE_CHARS:
            yield "".join(buffered).encode()
            buffered.clear()
            size = 0
            await asyncio.sleep(0)  # let other requests run between two slices
    yield "".join(buffered).encode()


def pieces(value: Any) -> Iterator[str]:
    """The JSON of `value` in pieces, a long string in slices of SLICE_CHARS characters
    (escaping one character never depends on its neighbours, so slices join up)."""
    if isinstance(value, str):
        if len(value) <= SLICE_CHARS:
            yield _dumps(value)
            return
        yield '"'
        for start in range(0, len(value), SLICE_CHARS):
            yield _dumps(value[start : start + SLICE_CHARS])[1:-1]
        yield '"'
    elif isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield f"{',' if index else ''}{_dumps(key)}:"
            yield from pieces(item)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from pieces(item)
        yield "]"
    else:
        yield _dumps(value)
