"""The Starlette application: middleware, the API's routes, and the lifespan that opens the
services (and, in dev, the SMTP listener on the same event loop)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware

from dispatch_server import api, web
from dispatch_server.auth.backends import ApiKeyBackend
from dispatch_server.config import Settings
from dispatch_server.http.errors import HANDLERS
from dispatch_server.http.mcp import mcp_endpoint
from dispatch_server.http.middleware.access_log import AccessLog
from dispatch_server.http.middleware.reject_nul import RejectNulInUrls
from dispatch_server.http.middleware.request_id import RequestId
from dispatch_server.http.middleware.shutdown import AnswerWhenCancelled
from dispatch_server.ingest.doors.smtp import start_smtp_server
from dispatch_server.services import Services


def create_app(
    settings: Settings, *, with_smtp: bool = False, smtp_socket: socket.socket | None = None
) -> Starlette:
    """The API; with `with_smtp`, the SMTP listener runs on the same event loop, on
    `smtp_socket` when given (see dispatch_server.cli._common.bind) else on the configured port.
    With the `mcp` package installed, /mcp serves the MCP tools over streamable HTTP."""
    mcp = mcp_endpoint()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with await Services.open(settings) as services:
            app.state.services = services
            services.outbox.start()
            if settings.webhooks.deliver_in_api:
                services.webhooks.start()
            smtp = await start_smtp_server(services, sock=smtp_socket) if with_smtp else None
            app.state.smtp_server = smtp
            try:
                async with mcp.running() if mcp is not None else contextlib.nullcontext():
                    yield
            finally:
                services.hub.stop()
                if smtp is not None:
                    smtp.close()
                    await smtp.wait_closed()

    return Starlette(
        routes=[
            *(endpoint.route() for endpoint in api.endpoints()),
            *web.routes(),
            *([mcp.route()] if mcp is not None else []),
        ],
        middleware=[
            Middleware(RequestId),
            Middleware(AccessLog),
            Middleware(AnswerWhenCancelled),
            Middleware(RejectNulInUrls),
            Middleware(AuthenticationMiddleware, backend=ApiKeyBackend()),
        ],
        lifespan=lifespan,
        exception_handlers=HANDLERS,
    )
