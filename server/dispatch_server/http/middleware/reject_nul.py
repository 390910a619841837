"""A NUL character in the path or query is a 400, before any route: PostgreSQL cannot compare
or store text containing NUL."""

from __future__ import annotations

from starlette import types as asgi

from dispatch_server.core.errors import InvalidInput
from dispatch_server.http.errors import error_response


class RejectNulInUrls:
    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            response = error_response(InvalidInput("NUL characters are not allowed in URLs"))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
