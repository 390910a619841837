"""The Starlette application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dispatch_server import openapi
from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.errors import ApiError
from dispatch_server.http import (
    AppContext,
    RejectNulInUrls,
    RequestId,
    context,
    error_response,
    json_response,
    request_id,
)
from dispatch_server.ingest.smtp import start_smtp_server
from dispatch_server.ingest.webhook import inbound_webhook
from dispatch_server.notify import Hub
from dispatch_server.routes import mail, workspace

log = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def openapi_document(request: Request) -> Response:
    return json_response(openapi.document())


async def ready(request: Request) -> Response:
    try:
        await asyncio.wait_for(context(request).db.ping(), timeout=5)
    except Exception as exc:
        log.warning("readiness check failed (request %s): %s", request_id(request), exc)
        raise ApiError(503, "not_ready", "the database does not answer") from None
    return json_response({"status": "ready"})


ROUTES = [
    Route("/health", health),
    Route("/ready", ready),
    Route("/v1/agent/signup", workspace.agent_signup, methods=["POST"]),
    Route("/v1/inboxes", workspace.list_inboxes, methods=["GET"]),
    Route("/v1/inboxes", workspace.create_inbox, methods=["POST"]),
    Route("/v1/inboxes/{inbox_id}", workspace.get_inbox, methods=["GET"]),
    Route("/v1/inboxes/{inbox_id}/keys", workspace.create_inbox_key, methods=["POST"]),
    Route("/v1/inboxes/{inbox_id}/keys", workspace.list_inbox_keys, methods=["GET"]),
    Route("/v1/inboxes/{inbox_id}/keys/{key_id}", workspace.revoke_inbox_key, methods=["DELETE"]),
    Route("/v1/inboxes/{inbox_id}/messages", mail.list_messages, methods=["GET"]),
    Route("/v1/inboxes/{inbox_id}/messages/{message_id}", mail.get_message, methods=["GET"]),
    Route(
        "/v1/inboxes/{inbox_id}/messages/{message_id}/raw", mail.get_raw_message, methods=["GET"]
    ),
    Route("/v1/inboxes/{inbox_id}/artifacts", mail.list_artifacts, methods=["GET"]),
    Route("/v1/inboxes/{inbox_id}/otp", mail.latest_otp, methods=["GET"]),
    Route("/v1/inboxes/{inbox_id}/wait", mail.wait, methods=["GET"]),
    Route("/v1/webhooks/inbound", inbound_webhook, methods=["POST"]),
    Route("/openapi.json", openapi_document, methods=["GET"]),
]

HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id(request)
    log.exception(
        "unhandled error on %s %s (request %s)",
        request.method,
        request.url.path,
        rid,
        exc_info=exc,
    )
    # Starlette answers this outside the middleware stack, so RequestId cannot add the header.
    return JSONResponse(
        {"error": {"code": "internal_error", "message": "internal server error"}},
        status_code=500,
        headers={"x-request-id": rid} if rid else None,
    )


def create_app(settings: Settings, *, with_smtp: bool = False) -> Starlette:
    """The API; with `with_smtp`, the SMTP listener runs on the same event loop."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        hub = Hub()
        await hub.start_listening(db)
        app.state.dispatch = AppContext(settings=settings, db=db, hub=hub)
        smtp_server = await start_smtp_server(db, hub, settings) if with_smtp else None
        app.state.smtp_server = smtp_server
        try:
            yield
        finally:
            if smtp_server is not None:
                smtp_server.close()
                await smtp_server.wait_closed()
            await hub.close()
            await db.dispose()

    return Starlette(
        routes=ROUTES,
        middleware=[Middleware(RequestId), Middleware(RejectNulInUrls)],
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
