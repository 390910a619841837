"""The SMTP door's DATA reader against a reference that reads line by line, as aiosmtpd does:
the same message, whatever the sizes of the segments it arrives in."""

from __future__ import annotations

import asyncio
import random

import pytest

from dispatch_server.ingest.doors.smtp.protocol import (
    LINE_TOO_LONG,
    MAX_LINE_BYTES,
    Goodbye,
    SessionReader,
    unstuff,
)


def reference(wire: bytes) -> tuple[bytes, bytes]:
    """The message up to the first CRLF.CRLF line, un-stuffed line by line, and the rest."""
    lines: list[bytes] = []
    start = 0
    while True:
        end = wire.index(b"\r\n", start) + 2
        line = wire[start:end]
        start = end
        if line == b".\r\n":
            return b"".join(lines), wire[start:]
        assert len(line) <= MAX_LINE_BYTES
        lines.append(line[1:] if line.startswith(b".") else line)


async def read(wire: bytes, sizes: random.Random) -> tuple[bytes, bytes]:
    reader = SessionReader(max_commands=10, loop=asyncio.get_running_loop())

    async def feed() -> None:
        position = 0
        while position < len(wire):
            size = sizes.choice((1, 2, 3, 5, 64, 1000, 4096))
            reader.feed_data(wire[position : position + size])
            position += size
            await asyncio.sleep(0)
        reader.feed_eof()

    feeding = asyncio.create_task(feed())
    body = b""
    while (chunk := await reader.data_chunk()) is not None:
        body += unstuff(chunk)
    await feeding
    return body, await reader.read()


LINES = [b"plain", b"", b".", b"..", b".leading", b"bare\nlf", b"\n.\n", b"cr\r", b"\r", b"x" * 998]


@pytest.mark.parametrize("seed", range(200))
def test_data_read_in_blocks_is_what_reading_line_by_line_gives(seed: int) -> None:
    rng = random.Random(seed)
    lines = [rng.choice(LINES) for _ in range(rng.randrange(0, 40))]
    stuffed = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
    wire = stuffed + b".\r\nMAIL FROM:<next@acme.test>\r\n"  # a pipelined next command
    expected = reference(wire)
    assert expected[0] == b"".join(line + b"\r\n" for line in lines)
    assert asyncio.run(read(wire, rng)) == expected


@pytest.mark.parametrize("wire", [b"y" * 5000, b"ok\r\n" + b"z" * 1000 + b"\r\n.\r\n"])
def test_a_line_too_long_ends_the_session(wire: bytes) -> None:
    with pytest.raises(Goodbye) as ended:
        asyncio.run(read(wire, random.Random(0)))
    assert ended.value.reply == LINE_TOO_LONG
