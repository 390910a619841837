"""`dispatch-server smtp --processes N`: N processes on one port, stopped together."""

from __future__ import annotations

import asyncio
import re
import signal
import smtplib
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from dispatch_server.db import Database
from dispatch_server.domain import workspaces
from tests.helpers import make_mail, smtp_send
from tests.server.cli.test_commands import START_TIMEOUT, command, free_port, server_env


async def signup(url: str) -> str:
    db = Database(url)
    try:
        result = await db.run_write(
            workspaces.signup, domain="dispatch.test", name=None, local_part="bot"
        )
    finally:
        await db.dispose()
    return result.inbox.address


def test_processes_share_the_port_and_stop_together(tmp_path: Path) -> None:
    path = tmp_path / "dispatch.db"
    env = server_env(DATABASE_URL=f"sqlite:///{path}", DISPATCH_INBOX_DOMAIN="dispatch.test")
    subprocess.run(command("migrate"), env=env, cwd=tmp_path, check=True, capture_output=True)
    address = asyncio.run(signup(f"sqlite:///{path}"))
    port = free_port()
    process = subprocess.Popen(
        command("smtp", "--port", str(port), "--processes", "2"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        lines.extend(line.rstrip("\n") for line in process.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        pids: set[str] = set()
        while len(pids) < 2 and time.monotonic() < deadline and process.poll() is None:
            pids = {
                m.group(1) for line in list(lines) for m in [re.search(r"pid (\d+)", line)] if m
            }
            time.sleep(0.05)
        assert len(pids) == 2, "\n".join(lines)
        for _ in range(8):  # a connection each, so both processes take some
            assert smtp_send("127.0.0.1", port, address, make_mail(address)) == {}
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 8
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        reader.join(5)
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids)  # reaped by it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_mail_acknowledged_before_kill_9_is_stored_once(tmp_path: Path) -> None:
    """SIGKILL in the middle of concurrent deliveries: every mail that got its 250 is in the
    database exactly once (the 250 follows the commit of the batch it was in)."""
    path = tmp_path / "dispatch.db"
    env = server_env(DATABASE_URL=f"sqlite:///{path}", DISPATCH_INBOX_DOMAIN="dispatch.test")
    subprocess.run(command("migrate"), env=env, cwd=tmp_path, check=True, capture_output=True)
    address = asyncio.run(signup(f"sqlite:///{path}"))
    port = free_port()
    process = subprocess.Popen(
        command("smtp", "--port", str(port)), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL
    )
    acknowledged: list[str] = []
    lock = threading.Lock()

    def send(sender: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                for serial in range(1000):
                    message_id = f"<kill-{sender}-{serial}@acme.test>"
                    client.sendmail(
                        "a@acme.test", [address], make_mail(address, message_id=message_id)
                    )
                    with lock:
                        acknowledged.append(message_id)
        except (OSError, smtplib.SMTPException):
            return  # the server is gone

    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        senders = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for thread in senders:
            thread.start()
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.kill()
        process.wait()
        for thread in senders:
            thread.join(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(acknowledged) >= 100
    with sqlite3.connect(path) as conn:
        stored = [row[0] for row in conn.execute("SELECT message_id_header FROM messages")]
    assert len(stored) == len(set(stored))  # nothing twice
    assert set(acknowledged) <= set(stored)  # nothing acknowledged is lost
