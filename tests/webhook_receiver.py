"""A webhook receiver for the tests: an HTTP server on loopback that records every request
and answers as told (a status, a redirect, a slow or a huge body)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs


@attrs.frozen
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0  # seconds before the answer
    stream_forever: bool = False  # a body that never ends, a chunk at a time


class Receiver:
    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.replies: list[Reply] = []  # taken in order; then `default`
        self.default = Reply()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver.received.put(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                with receiver.lock:
                    reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.stream_forever:
                    self.send_header("content-type", "application/octet-stream")
                    self.end_headers()
                    try:
                        for _ in range(100_000):
                            self.wfile.write(b"x" * 65536)
                    except OSError:
                        pass
                    return
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, timeout: float = 10.0) -> Received:
        return self.received.get(timeout=timeout)

    def none_within(self, seconds: float) -> bool:
        try:
            self.received.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


@contextmanager
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()
