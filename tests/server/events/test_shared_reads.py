"""Streams woken together share one read of the log (api/events.py `read_frames`), and a
read already under way is never joined, so a stream woken by a later commit sees it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dispatch_server.api.events import Frames, read_frames
from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.domain import workspaces
from dispatch_server.events import log as event_log

pytestmark = pytest.mark.anyio


async def test_streams_woken_together_share_one_read(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    signup = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part="bot"
    )
    workspace_id = signup.workspace.id
    reads = 0
    run_read = db.run_read

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await run_read(fn, *args, **kwargs)

    monkeypatch.setattr(db, "run_read", counted)

    async def read() -> Frames:
        return await read_frames(db, workspace_id, after=0, inbox_id=None, types=())

    results = await asyncio.gather(*(read() for _ in range(200)))
    assert all(result == results[0] for result in results)
    assert results[0].position == 1  # the signup's inbox.created
    (encoded,) = results[0].encoded
    assert encoded.startswith(b"id: 1\nevent: inbox.created\ndata: {")
    assert reads < 20, reads  # not one each

    # A commit after those reads is seen by the next one: finished reads are not reused.
    await db.run_write(
        event_log.append,
        workspace_id=workspace_id,
        inbox_id=None,
        type="entitlement.granted",
        payload={"product": "multi_inbox", "source": "test", "source_ref": "r"},
        now=utcnow(),
    )
    after = await read()
    assert (after.position, len(after.encoded)) == (2, 2)
