"""The issue's "done means": a client `watch()`ing (sync, and async with `AsyncDispatch`) while
the server is killed (`kill -9`) and started again on the same port and database gets every
event exactly once, in order, including those committed while it was down (by another server
process) and those committed after the restart but before it reconnected. Real processes,
both databases."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from dispatch_client import AsyncDispatch, Dispatch, Event, MessageReceived
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.events import log as event_log
from tests.conftest import INBOUND_TOKEN
from tests.server.cli.test_commands import START_TIMEOUT, command, free_port, server_env


class Server:
    """`dispatch-server dev` on given ports, its output in a file."""

    def __init__(self, data_dir: Path, database_url: str, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = data_dir / f"server-{port}-{time.monotonic_ns()}.log"
        env = server_env(
            DATABASE_URL=database_url,
            DISPATCH_INBOUND_TOKEN=INBOUND_TOKEN,
            DISPATCH_EVENT_HEARTBEAT_SECONDS="1",
        )
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command(
                    *("dev", "--data-dir", str(data_dir), "--port", str(port)),
                    *("--smtp-port", str(free_port())),
                ),
                env=env,
                cwd=data_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not (found := re.search(r"DISPATCH_API_KEY=(\S+)", self.log.read_text())):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)
        self.account_key = found.group(1)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def deliver(self, to: str, subject: str) -> None:
        response = httpx.post(
            f"{self.base_url}/v1/webhooks/inbound",
            headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
            json={"to": to, "subject": subject, "text": f"{subject}: code 4829{len(subject)}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def logged(database_url: str) -> list[event_log.Event]:
    """The log of the database's one workspace (the dev server's), as stored."""

    def read(conn: sa.Connection) -> list[event_log.Event]:
        workspace_id = conn.execute(sa.select(t.workspaces.c.id)).scalar_one()
        return event_log.list_after(conn, workspace_id, after=0, limit=10_000)

    async def go() -> list[event_log.Event]:
        db = Database(database_url)
        try:
            return await db.run_read(read)
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_a_watch_survives_kill_9_and_a_restart_with_every_event_once(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    port = free_port()
    servers.append(server := Server(tmp_path, database_url, port))
    client = Dispatch(api_key=server.account_key, base_url=server.base_url)
    inbox = client.inboxes.list().data[0]
    received: queue.Queue[Event] = queue.Queue()
    watching = client.events.watch(after=0)
    failed: list[BaseException] = []

    def watch() -> None:
        try:
            for found in watching:
                received.put(found)
        except BaseException as error:
            failed.append(error)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def take(count: int) -> list[Event]:
        got = []
        for _ in range(count):
            try:
                got.append(received.get(timeout=60))
            except queue.Empty:
                raise AssertionError(f"got {got}; the watch failed with {failed}") from None
        return got

    events = take(1)  # the dev workspace's inbox.created
    sent: list[str] = []

    def deliver(via: Server, *subjects: str) -> None:
        for subject in subjects:
            via.deliver(inbox.address, subject)
            sent.append(subject)

    deliver(server, "before 1", "before 2")
    events += take(2)

    server.kill()  # the client's connection breaks; reconnecting is refused meanwhile
    # Committed while it is down, by another server process on the same database:
    other = Server(tmp_path, database_url, free_port())
    servers.append(other)
    deliver(other, "down 1", "down 2", "down 3")
    other.kill()

    servers.append(server := Server(tmp_path, database_url, port))  # same port, same data
    deliver(server, "restarted 1")  # most likely before the client's backoff ends
    events += take(4)
    deliver(server, "live 1", "live 2")
    events += take(2)
    watching_since = watching.last_id
    assert not failed

    subjects = [e.payload.subject for e in events if isinstance(e.payload, MessageReceived)]
    assert subjects == sent
    stored = logged(database_url)
    assert [e.id for e in events] == [e.seq for e in stored]  # all, once, in order
    assert watching_since == stored[-1].seq
    with pytest.raises(queue.Empty):
        received.get(timeout=1.5)  # nothing more, nothing twice
    client.close()  # ends the watch: it does not reconnect with a closed client
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.mark.anyio
async def test_the_async_watch_survives_kill_9_and_a_restart_with_every_event_once(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    """The same with `AsyncDispatch`: the watch runs as a task on the test's event loop while
    the servers are started, killed and written to from threads."""
    port = free_port()
    server = await asyncio.to_thread(Server, tmp_path, database_url, port)
    servers.append(server)
    client = AsyncDispatch(api_key=server.account_key, base_url=server.base_url)
    inbox = (await client.inboxes.list()).data[0]
    received: asyncio.Queue[Event] = asyncio.Queue()
    watching = client.events.watch(after=0)

    async def watch() -> None:
        async for found in watching:
            await received.put(found)

    task = asyncio.create_task(watch())

    async def take(count: int) -> list[Event]:
        got = []
        for _ in range(count):
            try:
                got.append(await asyncio.wait_for(received.get(), timeout=60))
            except TimeoutError:
                failure = task.exception() if task.done() else None
                raise AssertionError(f"got {got}; the watch failed with {failure}") from None
        return got

    sent: list[str] = []

    async def deliver(via: Server, *subjects: str) -> None:
        for subject in subjects:
            await asyncio.to_thread(via.deliver, inbox.address, subject)
            sent.append(subject)

    events = await take(1)  # the dev workspace's inbox.created
    await deliver(server, "before 1")
    events += await take(1)

    await asyncio.to_thread(server.kill)
    other = await asyncio.to_thread(Server, tmp_path, database_url, free_port())
    servers.append(other)
    await deliver(other, "down 1", "down 2")
    await asyncio.to_thread(other.kill)

    server = await asyncio.to_thread(Server, tmp_path, database_url, port)
    servers.append(server)
    await deliver(server, "restarted 1")
    events += await take(3)
    await deliver(server, "live 1")
    events += await take(1)
    assert not task.done()

    subjects = [e.payload.subject for e in events if isinstance(e.payload, MessageReceived)]
    assert subjects == sent
    stored = await asyncio.to_thread(logged, database_url)
    assert [e.id for e in events] == [e.seq for e in stored]  # all, once, in order
    assert watching.last_id == stored[-1].seq
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(received.get(), timeout=1.5)  # nothing more, nothing twice
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await watching.aclose()
    await client.aclose()
