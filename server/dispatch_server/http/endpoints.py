"""Endpoints: each route declared once, with what it needs (scope, body, query parameters)
and what it answers (a shape and a status). The Starlette route and the OpenAPI operation
both come from the declaration, so they cannot drift apart.

A handler takes a `Call` (the request, the services, the caller's principal, the parsed
body) and returns a shape instance, or a Starlette Response for anything that is not JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dispatch_server.auth.backends import admit, admit_operator
from dispatch_server.auth.operators import OperatorToken
from dispatch_server.auth.principal import Principal, Scope
from dispatch_server.config import Settings
from dispatch_server.http import idempotency, rate_limits
from dispatch_server.http.context import services
from dispatch_server.http.params import (
    MAX_JSON_BODY,
    Query,
    body_too_large,
    parse_json_object,
    read_body,
)
from dispatch_server.http.render import json_response
from dispatch_server.http.shapes import SchemaRegistry, from_json, to_json
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.services import Services

B = TypeVar("B")
Q = TypeVar("Q")
Schema = dict[str, Any]

_SCOPE_TEXT = {
    Scope.ACCOUNT: "Needs an account key.",
    Scope.INBOX: "Needs the inbox's key (an account key gets 403 with a hint).",
    Scope.INBOX_OR_ACCOUNT: "Needs an account key or the inbox's key.",
    Scope.ANY_KEY: "Needs an API key: an account key or an inbox key.",
}


@attrs.frozen
class Call(Generic[B]):
    """One request as a handler sees it."""

    request: Request
    services: Services
    body: B
    caller: Principal | None  # None on public routes
    operator_token: OperatorToken | None = None  # on operator routes

    @property
    def operator(self) -> OperatorToken:
        if self.operator_token is None:
            raise RuntimeError("not an operator route")
        return self.operator_token

    @property
    def principal(self) -> Principal:
        if self.caller is None:
            raise RuntimeError("a public route has no principal")
        return self.caller

    def path(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def query(self, param: Query[Q]) -> Q:
        return param.read(self.request)


Handler = Callable[[Call[Any]], Awaitable[Any]]


@attrs.frozen(kw_only=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    scope: Scope | None  # None: a public route (or an operator route)
    # The word of `auth.policy.PERMISSIONS` a key needs here (a restricted inbox key may
    # lack it: 403 `missing_permission`); None: any key in scope.
    permission: str | None = None
    # Needs an operator's token (a JWT from /auth/login) instead of an API key.
    operator: bool = False
    response: Any = None  # the shape of a JSON answer; None when the handler answers itself
    status: int = 200
    body: type[Any] | None = None  # the shape of a JSON request body
    query: tuple[Query[Any], ...] = ()
    description: str | None = None
    # OpenAPI for what shapes cannot say (a raw MIME answer, a body of two media types).
    openapi_extra: Schema = attrs.field(factory=dict)
    # Answered once per Idempotency-Key (see dispatch_server.http.idempotency): a POST that
    # creates something, on a route with a caller to scope the keys by.
    idempotent: bool = False
    # The largest JSON body taken, from the settings; None: MAX_JSON_BODY.
    body_limit: Callable[[Settings], int] | None = None
    # Counted against this rate-limit policy per client address and per API key, before
    # anything else (see dispatch_server.http.rate_limits); None: not rate limited.
    rate_limit: Policy | None = None

    def route(self) -> Route:
        declared = self

        async def endpoint(request: Request) -> Response:
            if declared.rate_limit is not None:
                await rate_limits.admit(request, declared.rate_limit)
            return rate_limits.add_headers(request, await admitted(request))

        async def admitted(request: Request) -> Response:
            caller = None
            if declared.scope:
                caller = await admit(request, declared.scope, declared.permission)
            operator = admit_operator(request) if declared.operator else None
            key = idempotency.request_key(request) if declared.idempotent else None
            raw = b""
            if declared.body is not None:
                limit = MAX_JSON_BODY
                if declared.body_limit is not None:
                    limit = declared.body_limit(services(request).settings)
                raw = await read_body(request, limit=limit, too_large=body_too_large(limit))

            async def answer() -> Response:
                body = None
                if declared.body is not None:
                    body = from_json(declared.body, parse_json_object(raw))
                call = Call(request, services(request), body, caller, operator)
                result = await declared.handler(call)
                if isinstance(result, Response):
                    return result
                return json_response(to_json(result), declared.status)

            if key is None or caller is None:
                return await answer()
            return await idempotency.answer_once(
                services(request).db, request, raw, caller.key_id, key, answer
            )

        endpoint.__name__ = self.handler.__name__
        return Route(self.path, endpoint, methods=[self.method])

    def operation(self, schemas: SchemaRegistry) -> Schema:
        error = {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        responses: Schema = {"default": error}
        if self.response is not None:
            responses[str(self.status)] = {
                "description": "OK" if self.status == 200 else "Created",
                "content": {"application/json": {"schema": schemas.of(self.response)}},
            }
        operation: Schema = {
            "summary": self.summary,
            "operationId": self.handler.__name__,
            "security": self._security(),
            "responses": responses,
        }
        needs = _SCOPE_TEXT[self.scope] if self.scope else None
        if self.operator:
            needs = "Needs an operator token (`Authorization: Bearer <jwt>` from /auth/login)."
        limited = None
        if self.rate_limit is not None:
            limited = f"Rate limited by the `{self.rate_limit}` policy (429 `rate_limited`)."
        if needs and self.permission is not None:
            needs += f" A restricted inbox key needs the `{self.permission}` permission."
        description = " ".join(text for text in (self.description, needs, limited) if text)
        if description:
            operation["description"] = description
        parameters = [_path_parameter(name) for name in _path_names(self.path)]
        parameters += [param.openapi() for param in self.query]
        if self.idempotent:
            parameters.append(_IDEMPOTENCY_KEY)
        if parameters:
            operation["parameters"] = parameters
        if self.body is not None:
            operation["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": schemas.object(self.body)}},
            }
        for key, value in self.openapi_extra.items():
            if key == "responses":
                operation["responses"] = {**operation["responses"], **value}
            else:
                operation[key] = value
        return operation

    def _security(self) -> list[Schema]:
        if self.operator:
            return [{"operatorToken": []}]
        return [{"apiKey": []}] if self.scope else []


_IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "answer this request once: for 24 hours the same key and request get the "
    "first answer again (`Idempotent-Replayed: true`); another request with the key is a 409",
    "schema": {"type": "string", "maxLength": 255},
}


def _path_names(path: str) -> list[str]:
    return [part[1:-1].partition(":")[0] for part in path.split("/") if part.startswith("{")]


def documented_path(path: str) -> str:
    """The route's path as OpenAPI writes it: `{address:path}` is `{address}`."""
    return "/".join(
        "{" + part[1:-1].partition(":")[0] + "}" if part.startswith("{") else part
        for part in path.split("/")
    )


def _path_parameter(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
