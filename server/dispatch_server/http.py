"""Request plumbing shared by the routes: app context, keyed endpoints, JSON in and out."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, overload

import attrs
from starlette import types as asgi
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from dispatch_server.auth import Principal, Scope, admit, bearer_token
from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.domain.messages import Cursor, CursorKind
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
            principal = await context(request).db.run_read(
                admit, raw_key, scope, request.path_params.get("inbox_id")
            )
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


REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is echoed only if it is short and plain, as it goes into logs and headers.
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")


class RequestId:
    """ASGI middleware: every response carries `x-request-id`, the caller's if it sent a sane
    one, else a fresh one. Handlers and error logs read it with `request_id(request)`."""

    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER), b"")
        value = incoming if _SANE_REQUEST_ID.match(incoming) else secrets.token_hex(16).encode()
        scope.setdefault("state", {})["request_id"] = value.decode()

        async def send_with_id(message: asgi.Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, value)]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id(request: Request) -> str | None:
    rid: str | None = getattr(request.state, "request_id", None)
    return rid


def json_response(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message}}, status_code=error.status
    )


async def read_body(request: Request, *, limit: int, code: str) -> bytes:
    """The request body, refused with `413 <code>` as soon as it is known to be above `limit`
    bytes: from Content-Length before reading anything, else while streaming (never more than
    one chunk past the limit is held)."""
    too_large = ApiError(413, code, f"the request body is limited to {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:  # nobody will read the answer; this keeps it out of the error log
        raise bad_request("the client disconnected before sending the whole body") from None
    return b"".join(chunks)


async def json_body(
    request: Request,
    *,
    allow_empty: bool = True,
    limit: int = MAX_JSON_BODY,
    too_large_code: str = "payload_too_large",
) -> dict[str, Any]:
    raw = await read_body(request, limit=limit, code=too_large_code)
    if not raw.strip():
        if allow_empty:
            return {}
        raise bad_request("a JSON body is required")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("body is nested too deeply") from None
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    _check_strings(body)
    return body


def _check_strings(value: Any) -> None:
    """Refuse text no database stores: NUL (PostgreSQL) and lone surrogates such as "\\ud800",
    which json.loads accepts but which cannot be encoded as UTF-8 later."""
    pending = [value]
    while pending:  # a loop: recursing could hit the limit at a depth json.loads accepted
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise bad_request("NUL characters are not allowed")
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    raise bad_request("strings must not contain lone UTF-16 surrogates") from None


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


def query_float(request: Request, name: str, *, default: float, low: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number") from None
    if not low <= value:  # also refuses nan
        raise bad_request(f"{name} must be at least {low:g}")
    return value


@overload
def query_choice(request: Request, name: str, choices: tuple[str, ...], *, default: str) -> str: ...
@overload
def query_choice(
    request: Request, name: str, choices: tuple[str, ...], *, default: None
) -> str | None: ...
def query_choice(
    request: Request, name: str, choices: tuple[str, ...], *, default: str | None
) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}")
    return raw


def query_cursor(request: Request, kind: CursorKind, name: str = "cursor") -> Cursor | None:
    token = request.query_params.get(name)
    return Cursor.decode(token, kind) if token else None


def query_limit(request: Request) -> int:
    """The page size: one rule for every listing."""
    return query_int(request, "limit", default=50, low=1, high=100)


def page_response(data: list[dict[str, Any]], next_cursor: Cursor | None) -> Response:
    return json_response(
        {"data": data, "next_cursor": next_cursor.encode() if next_cursor else None}
    )
