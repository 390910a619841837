"""Every response carries `x-request-id`: the caller's if it sent a sane one, else a new one."""

from __future__ import annotations

import re
import secrets

from starlette import types as asgi

REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is echoed only if it is short and plain, as it goes into logs and headers.
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")


class RequestId:
    """Handlers and logs read the id with `dispatch_server.http.context.request_id`."""

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
