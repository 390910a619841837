"""The server itself: liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import attrs
from starlette.responses import JSONResponse

from dispatch_server.core.errors import Unavailable
from dispatch_server.http.context import request_id
from dispatch_server.http.endpoints import Call, Endpoint

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 5


@attrs.frozen
class Status:
    status: str


async def health(call: Call[None]) -> Status:
    return Status("ok")


async def ready(call: Call[None]) -> Status:
    try:
        await asyncio.wait_for(call.services.db.ping(), timeout=READY_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("readiness check failed (request %s): %s", request_id(call.request), exc)
        raise Unavailable("the database does not answer") from None
    return Status("ready")


async def openapi_document(call: Call[None]) -> JSONResponse:
    from dispatch_server.api import openapi_document as document  # the API, this route included

    return JSONResponse(document())


def _any_object() -> dict[str, Any]:
    return {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/health",
        handler=health,
        summary="Liveness",
        scope=None,
        response=Status,
    ),
    Endpoint(
        method="GET",
        path="/ready",
        handler=ready,
        summary="Readiness (database answers)",
        scope=None,
        response=Status,
    ),
    Endpoint(
        method="GET",
        path="/openapi.json",
        handler=openapi_document,
        summary="This document",
        scope=None,
        openapi_extra={"responses": _any_object()},
    ),
]
