"""Finds a Redis server for the tests, or starts a throwaway one. Never skips.

Order: $DISPATCH_TEST_REDIS_URL; a server on 127.0.0.1:6379; else `redis-server` on a free
port, in memory only. Tests that stop Redis start their own with `TemporaryRedis`. Tests
use their own key prefix, so a shared Redis keeps its other data (nothing is flushed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"
NO_PERSISTENCE = ("--save", "", "--appendonly", "no", "--protected-mode", "no")


class RedisUnavailable(RuntimeError):
    pass


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TemporaryRedis:
    """`redis-server` on 127.0.0.1, no persistence; `stop` and `start` again on one port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable(
                "no redis-server to start: install it (apt-get install redis-server) or set "
                "DISPATCH_TEST_REDIS_URL"
            )
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", *NO_PERSISTENCE],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RedisUnavailable(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def find_server() -> tuple[str, TemporaryRedis | None]:
    url = os.environ.get("DISPATCH_TEST_REDIS_URL")
    if url:
        if not _answers(url):
            raise RedisUnavailable(f"DISPATCH_TEST_REDIS_URL={url} does not answer")
        return url, None
    if _answers(DEFAULT_URL):
        return DEFAULT_URL, None
    server = TemporaryRedis()
    return server.start(), server
