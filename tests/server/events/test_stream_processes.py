"""An event stream left quiet gets its heartbeat comment line (DISPATCH_EVENT_HEARTBEAT_SECONDS)
and nothing else; and mail taken by a separate `dispatch-server smtp` process reaches a
stream held on a separate `dispatch-server serve` process on the same PostgreSQL database,
woken by LISTEN/NOTIFY (the heartbeat, which also reads the log again, is set far longer
than the wait)."""

from __future__ import annotations

import smtplib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, make_mail, signup, smtp_send
from tests.server.cli.test_commands import START_TIMEOUT, command, free_port, server_env
from tests.server.events.test_event_stream import Stream


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_quiet_stream_gets_heartbeat_comment_lines_only(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    urls = fresh_database_url(backend, tmp_path_factory, request)
    thread = _ServerThread(make_settings(next(urls), DISPATCH_EVENT_HEARTBEAT_SECONDS="0.2"))
    try:
        live = thread.start()
        account = signup(live.base_url)
        lines: list[str] = []
        with httpx.Client(timeout=httpx.Timeout(30)) as client:
            url = f"{live.base_url}/v1/events"
            with client.stream("GET", url, headers=bearer(account["account_key"])) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")
                for line in answer.iter_lines():
                    lines.append(line)
                    if lines.count(": heartbeat") == 3:
                        break
        # The opening frame (the stream's position, no data), then heartbeats and the blank
        # lines that end them: no event on a quiet stream.
        opening = lines.index("")
        assert lines[1] == "id: 1"  # the signup's inbox.created, the newest event
        assert not any(line.startswith("data:") for line in lines[:opening])
        assert set(lines[opening:]) == {"", ": heartbeat"}
    finally:
        thread.stop()
        next(urls, None)


class Process:
    """A `dispatch-server` command in a child process, its output in a file."""

    def __init__(self, directory: Path, name: str, env: dict[str, str], *args: str) -> None:
        self.log = directory / f"{name}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command(*args), env=env, cwd=directory, stdout=out, stderr=subprocess.STDOUT
            )

    def check(self) -> None:
        assert self.process.poll() is None, self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def until(deadline: float, attempt: Callable[[], object], process: Process) -> None:
    """Call `attempt` until it stops failing to connect (a port not listening yet), while
    `process` lives, until `deadline`."""
    while True:
        process.check()
        try:
            attempt()
            return
        except (OSError, smtplib.SMTPException, httpx.TransportError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_mail_taken_by_the_smtp_process_reaches_a_stream_on_the_api_process(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> None:
    urls = fresh_database_url("postgresql", tmp_path_factory, request)
    database_url = next(urls).replace("postgresql+asyncpg://", "postgresql://", 1)
    processes: list[Process] = []
    try:
        env = server_env(
            DATABASE_URL=database_url,
            DISPATCH_INBOX_DOMAIN="dispatch.test",
            DISPATCH_EVENT_HEARTBEAT_SECONDS="300",
            DISPATCH_RATE_LIMITS="false",
        )
        http_port, smtp_port = free_port(), free_port()
        api = Process(tmp_path, "serve", env, "serve", "--port", str(http_port))
        processes.append(api)
        smtp = Process(tmp_path, "smtp", env, "smtp", "--port", str(smtp_port))
        processes.append(smtp)
        base_url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + START_TIMEOUT
        accounts: list[dict[str, object]] = []
        until(deadline, lambda: accounts.append(signup(base_url)), api)
        account = accounts[0]
        inbox = account["inbox"]
        assert isinstance(inbox, dict) and isinstance(account["account_key"], str)
        stream = Stream(f"{base_url}/v1/events", bearer(account["account_key"]))
        try:
            assert stream.status == 200
            mail = make_mail(inbox["address"], subject="across processes")
            until(
                deadline,
                lambda: smtp_send("127.0.0.1", smtp_port, inbox["address"], mail),
                smtp,
            )
            frame = stream.next(timeout=60)  # far under the heartbeat: NOTIFY woke it
            assert frame["event"] == "message.received"
            assert frame["json"]["inbox_id"] == inbox["id"]
            assert frame["json"]["data"]["subject"] == "across processes"
        finally:
            stream.close()
        api.check()
        smtp.check()
    finally:
        for process in processes:
            process.stop()  # before the database is dropped
        next(urls, None)
