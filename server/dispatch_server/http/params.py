"""Reading requests: bounded bodies, JSON objects, and query parameters declared once (each
parameter's parsing and its OpenAPI description come from the same object)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
from starlette.requests import ClientDisconnect, Request

from dispatch_server.core.clock import parse_timestamp
from dispatch_server.core.errors import InvalidInput, TooLarge
from dispatch_server.core.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Cursor,
    CursorKind,
)

T = TypeVar("T")
Schema = dict[str, Any]

# The JSON bodies of the API (signup, a new inbox, a key's label) are a few short fields.
# Signup takes them before any key is checked, so this is also what an anonymous client can
# make the server hold per connection: 500 half-sent bodies hold 8 MiB, not 500.
MAX_JSON_BODY = 16 * 1024
_INTEGER = re.compile(r"-?[0-9]{1,18}")


# --- bodies ------------------------------------------------------------------------------


async def read_body(request: Request, *, limit: int, too_large: TooLarge) -> bytes:
    """The request body, refused with `too_large` as soon as it is known to be above `limit`
    bytes: from Content-Length before reading anything, else while streaming (never more than
    one chunk past the limit is held)."""
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
        raise InvalidInput("the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def body_too_large(limit: int) -> TooLarge:
    return TooLarge(f"the request body is limited to {limit} bytes")


async def json_object(
    request: Request,
    *,
    allow_empty: bool = True,
    limit: int = MAX_JSON_BODY,
    too_large: TooLarge | None = None,
) -> dict[str, Any]:
    """The body as a JSON object ({} for an empty body, when allowed)."""
    raw = await read_body(request, limit=limit, too_large=too_large or body_too_large(limit))
    return parse_json_object(raw, allow_empty=allow_empty)


def parse_json_object(raw: bytes, *, allow_empty: bool = True) -> dict[str, Any]:
    """A body already read (see read_body) as a JSON object."""
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidInput("a JSON body is required")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise InvalidInput("body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from None
    except ValueError:  # bad UTF-8, or an integer too long to read
        raise InvalidInput(
            "body is not valid JSON: bad UTF-8, or a number too long to read"
        ) from None
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    _check_strings(body)
    return body


def _check_strings(body: dict[str, Any]) -> None:
    """Refuse text no database stores: NUL (PostgreSQL) and lone surrogates such as "\\ud800",
    which json.loads accepts but which cannot be encoded as UTF-8 later. The error names the
    top-level field the text is in."""
    for name, value in body.items():
        _check_text(name, None)
        pending = [value]
        while pending:  # a loop: recursing could hit the limit at a depth json.loads accepted
            item = pending.pop()
            if isinstance(item, dict):
                pending.extend(item)
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, str):
                _check_text(item, name)


def _check_text(text: str, param: str | None) -> None:
    where = f" (in {param})" if param is not None else " (in a field name)"
    if "\x00" in text:
        raise InvalidInput(f"NUL characters are not allowed{where}", param=param)
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise InvalidInput(
                f"strings must not contain lone UTF-16 surrogates{where}", param=param
            ) from None


# --- query parameters --------------------------------------------------------------------


@attrs.frozen
class Query(Generic[T]):
    """A query parameter: its name, how to read it, its default, and its OpenAPI schema.
    `parse` raises ValueError with the reason, which becomes a 400 naming the parameter."""

    name: str
    parse: Callable[[str], T]
    default: T
    schema: Schema
    description: str = ""

    def read(self, request: Request) -> T:
        raw = request.query_params.get(self.name)
        if raw is None or raw == "":
            return self.default
        try:
            return self.parse(raw)
        except InvalidInput:
            raise
        except ValueError as exc:
            raise InvalidInput(f"{self.name} {exc}", param=self.name) from None

    def openapi(self) -> Schema:
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "schema": self.schema,
            "description": self.description,
        }


def integer(name: str, *, default: int, low: int, high: int, description: str = "") -> Query[int]:
    def parse(raw: str) -> int:
        if not _INTEGER.fullmatch(raw):  # int() would also take " 3 " and "1_0"
            raise ValueError("must be an integer")
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
    return Query(name, parse, default, schema, description)


def number(name: str, *, default: float, low: float, description: str = "") -> Query[float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if not low <= value:  # also refuses nan
            raise ValueError(f"must be at least {low:g}")
        return value

    return Query(
        name, parse, default, {"type": "number", "minimum": low, "default": default}, description
    )


def choice(name: str, choices: tuple[T, ...], *, default: T, description: str = "") -> Query[T]:
    def parse(raw: str) -> T:
        for value in choices:
            if raw == value:
                return value
        raise ValueError(f"must be one of {', '.join(map(str, choices))}")

    schema: Schema = {"enum": list(choices)}
    if default is not None:
        schema["default"] = default
    return Query(name, parse, default, schema, description)


def text(name: str, *, description: str = "") -> Query[str | None]:
    return Query(name, str, None, {"type": "string"}, description)


def timestamp(name: str, *, description: str = "") -> Query[datetime | None]:
    def parse(raw: str) -> datetime:
        # An unencoded "+" in a query string arrives as a space: "...T09:30:00 01:00".
        try:
            return parse_timestamp(raw.replace(" ", "+"))
        except ValueError as exc:
            raise InvalidInput(f"{name}: {exc}", param=name) from None

    return Query(name, parse, None, {"type": "string", "format": "date-time"}, description)


def cursor(name: str, kind: CursorKind, *, description: str) -> Query[Cursor | None]:
    def parse(raw: str) -> Cursor:
        return Cursor.decode(raw, kind, param=name)

    return Query(name, parse, None, {"type": "string"}, description)


def page_cursor(kind: CursorKind) -> Query[Cursor | None]:
    return cursor("cursor", kind, description="next_cursor of the previous page")


# The page size: one rule for every listing.
LIMIT = integer("limit", default=DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
