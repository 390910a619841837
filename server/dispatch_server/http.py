"""Request plumbing shared by the routes: app context, keyed endpoints, JSON in and out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from starlette import types as asgi
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch_server.auth import Principal, Scope, authenticate, authorize, bearer_token
from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.errors import ApiError, bad_request
from dispatch_server.notify import Hub

MAX_JSON_BODY = 1024 * 1024


@attrs.frozen
class AppContext:
    settings: Settings
    db: Database
    hub: Hub


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.dispatch
    return ctx


KeyedHandler = Callable[[Request, Principal], Awaitable[Response]]


def keyed(scope: Scope) -> Callable[[KeyedHandler], Callable[[Request], Awaitable[Response]]]:
    """API key auth -> workspace context -> policy guard -> handler."""

    def wrap(handler: KeyedHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw_key = bearer_token(request.headers.get("authorization"))
            principal = await context(request).db.run_read(authenticate, raw_key)
            authorize(principal, scope, request.path_params.get("inbox_id"))
            return await handler(request, principal)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


class RejectNulInUrls:
    """ASGI middleware: a NUL character in the path or query is a 400, before any route.
    (PostgreSQL cannot compare or store text containing NUL.)"""

    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            response = error_response(bad_request("NUL characters are not allowed in URLs"))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def json_response(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message}}, status_code=error.status
    )


async def json_body(request: Request, *, allow_empty: bool = True) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise ApiError(
            413, "payload_too_large", f"JSON bodies are limited to {MAX_JSON_BODY} bytes"
        )
    if not raw.strip():
        if allow_empty:
            return {}
        raise bad_request("a JSON body is required")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None
    if b"\\u0000" in raw or b"\x00" in raw:
        raise bad_request("NUL characters are not allowed")
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


def optional_str(body: dict[str, Any], name: str, *, max_length: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    if len(value) > max_length:
        raise bad_request(f"{name} must be at most {max_length} characters")
    return value


def query_int(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}")
    return value


def query_float(request: Request, name: str, *, default: float, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number") from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low:g} and {high:g}")
    return value
