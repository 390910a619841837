"""One concise line per HTTP request: method, path, status, duration and request id."""

from __future__ import annotations

import logging
import time

from starlette import types as asgi

log = logging.getLogger("dispatch_server.access")


class AccessLog:
    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception is answered outside this layer

        async def send_noting_status(message: asgi.Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            log.info(
                "%s %s %d %.1f ms (request %s)",
                scope["method"],
                _printable(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
                scope.get("state", {}).get("request_id", "-"),
            )


def _printable(path: str) -> str:
    """The path with control characters escaped, so a request cannot forge log lines."""
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")
