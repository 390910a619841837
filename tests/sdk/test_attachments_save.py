"""`attachments.save`, sync and async, keeps no file for a download that ended short of the
attachment's size (the message deleted during it): IncompleteDownloadError instead."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatch_client import IncompleteDownloadError
from tests.sdk.helpers import MINTED, async_client, sync_client

INBOX = "33333333-3333-4333-8333-333333333333"
MESSAGE = "44444444-4444-4444-8444-444444444444"


def described(size: int, content_type: str = "application/pdf") -> dict[str, Any]:
    return {
        "id": 0,
        "filename": "report.pdf",
        "content_type": content_type,
        "size_bytes": size,
        "content_id": None,
    }


def answering(content: bytes, size: int, content_type: str = "application/pdf") -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/attachments"):
            return httpx.Response(
                200, json={"data": [described(size, content_type)], "next_cursor": None}
            )
        return httpx.Response(200, content=content)

    return handler


@pytest.mark.parametrize(("content", "size"), [(b"12345", 10), (b"", 1), (b"123456", 5)])
def test_a_short_or_long_download_is_no_file(tmp_path: Path, content: bytes, size: int) -> None:
    client = sync_client(answering(content, size), api_key=MINTED)
    with client as d, pytest.raises(IncompleteDownloadError) as raised:
        d.attachments.save(INBOX, MESSAGE, 0, tmp_path / "r.pdf")
    assert (raised.value.received, raised.value.expected) == (len(content), size)
    assert list(tmp_path.iterdir()) == []

    async def asynchronously() -> None:
        async with async_client(answering(content, size), api_key=MINTED) as d:
            with pytest.raises(IncompleteDownloadError):
                await d.attachments.save(INBOX, MESSAGE, 0, tmp_path / "r.pdf")

    asyncio.run(asynchronously())
    assert list(tmp_path.iterdir()) == []


def test_a_complete_download_is_saved_and_an_attached_message_is_not_checked(
    tmp_path: Path,
) -> None:
    with sync_client(answering(b"12345", 5), api_key=MINTED) as d:
        assert d.attachments.save(INBOX, MESSAGE, 0, tmp_path / "a").read_bytes() == b"12345"
    # An attached message's size is an estimate: it downloads serialised again.
    with sync_client(answering(b"Subject: x\r\n\r\nhi", 3, "message/rfc822"), api_key=MINTED) as d:
        assert d.attachments.save(INBOX, MESSAGE, 0, tmp_path / "b").read_bytes()
