"""A request cut short because the server stops (uvicorn cancels what outlasts its graceful
shutdown) gets a JSON 503 it can retry, instead of a traceback in the log and a bare 500."""

from __future__ import annotations

import asyncio
import logging

from starlette import types as asgi

from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.http.errors import error_response

log = logging.getLogger("dispatch_server.http")


class AnswerWhenCancelled:
    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: asgi.Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except asyncio.CancelledError:
            # The cancellation means "end this request now", which answering does; the
            # task then ends as the server wants.
            log.info("%s %s cut short by the shutdown", scope["method"], scope["path"])
            if not started:
                stopping = DomainError("the server is stopping", code=ErrorCode.SHUTTING_DOWN)
                await error_response(stopping)(scope, receive, send)
