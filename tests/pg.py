"""Finds a PostgreSQL server for the tests, or starts a throwaway one. Never skips.

Order: $DISPATCH_TEST_PG_URL; a server on 127.0.0.1:5432 (user postgres, trust auth); else
initdb + pg_ctl into a temporary directory (as the `postgres` user when running as root).
DISPATCH_TEST_PG_URL=start always starts the temporary server.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import asyncpg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(RuntimeError):
    pass


async def _can_connect(url: str) -> bool:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server reachable and no {name} to start one: install PostgreSQL "
            "(e.g. apt-get install postgresql) or set DISPATCH_TEST_PG_URL"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TemporaryCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dispatch-pg-"))
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(args)} failed: {result.stderr.strip()}")

    def start(self) -> str:
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        data = str(self.dir / "data")
        self._run(_pg_bin("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync")
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            data,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -h 127.0.0.1 -F",
            "start",
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def find_server() -> tuple[str, TemporaryCluster | None]:
    url = os.environ.get("DISPATCH_TEST_PG_URL")
    if url == "start":
        cluster = TemporaryCluster()
        return cluster.start(), cluster
    if url:
        if not asyncio.run(_can_connect(url)):
            raise PostgresUnavailable(f"DISPATCH_TEST_PG_URL={url} does not accept connections")
        return url, None
    if asyncio.run(_can_connect(DEFAULT_URL)):
        return DEFAULT_URL, None
    cluster = TemporaryCluster()
    return cluster.start(), cluster


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _create(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def create_database(admin_url: str) -> tuple[str, str]:
    name = f"dispatch_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create(admin_url, name))
    return name, _with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    asyncio.run(_drop(admin_url, name))
