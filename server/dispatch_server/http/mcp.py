"""The MCP endpoint at /mcp: Dispatch's MCP tools (`dispatch_client.mcp`) over streamable
HTTP, acting with each request's `Authorization: Bearer <key>`.

A request without a usable key gets the API's 401 before any MCP is spoken. A tool call
acts through the API itself, in process: the SDK's async client with an ASGI transport to
this app, so every rule (scope, quotas, rate limits, the client's address) is the one the
API applies to the same call over the network. Stateless (no MCP session is kept between
requests), so any worker answers any request. The inbox keys an account key's calls mint
are kept, by a digest of that key, so repeated calls do not mint more.

Mounted only when the `mcp` package is installed (the server extra brings it).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dispatch_server.auth.api_keys import KeyRefused
from dispatch_server.auth.backends import KeyHolder, RefusedKey

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context, MCPServer

    from dispatch_client.mcp import Caller

PATH = "/mcp"
KEPT_KEYS = 10_000


class McpEndpoint:
    """The ASGI app of /mcp, and the lifespan its session manager needs."""

    def __init__(self) -> None:
        from dispatch_client.mcp import create_server

        self.server: MCPServer[Any] = create_server(self._caller)
        self._inbox_keys: OrderedDict[str, dict[str, str]] = OrderedDict()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the session manager (a fresh one each time the app starts)."""
        from mcp.server.transport_security import TransportSecuritySettings

        # The app answers for whichever host it is deployed on: DNS rebinding protection
        # (a Host allow-list) would refuse it, and every request must carry a key anyway.
        self.server.streamable_http_app(
            stateless_http=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with self.server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if isinstance(user, RefusedKey):
            raise user.error
        if not isinstance(user, KeyHolder):
            raise KeyRefused("no Authorization header on /mcp")
        await self.server.session_manager.handle_request(scope, receive, send)

    def route(self) -> Route:
        return Route(PATH, self, methods=["GET", "POST", "DELETE"])

    @contextlib.asynccontextmanager
    async def _caller(self, ctx: Context) -> AsyncIterator[Caller]:
        from dispatch_client import AsyncDispatch
        from dispatch_client.mcp import Caller

        request = ctx.request_context.request
        assert isinstance(request, Request), "the MCP endpoint serves HTTP only"
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = token.strip()
        if scheme.lower() != "bearer" or not key:  # __call__ let no such request in
            raise KeyRefused("no Bearer key on an MCP call")
        digest = hashlib.sha256(key.encode()).hexdigest()
        client_address = (request.client.host, request.client.port) if request.client else None
        transport = httpx.ASGITransport(
            app=request.scope["app"], client=client_address or ("127.0.0.1", 0)
        )
        forwarded = request.headers.get("x-forwarded-for")
        headers = {"x-forwarded-for": forwarded} if forwarded else {}
        async with (
            httpx.AsyncClient(transport=transport, headers=headers, timeout=None) as http,
            AsyncDispatch(
                key,
                base_url=str(request.base_url).rstrip("/"),
                inbox_keys=self._inbox_keys.get(digest),
                http_client=http,
            ) as client,
        ):
            try:
                yield Caller(client=client, identity=key.split(".", 1)[0], secrets=(key,))
            finally:
                if client.inbox_keys:
                    self._inbox_keys[digest] = client.inbox_keys
                    self._inbox_keys.move_to_end(digest)
                    while len(self._inbox_keys) > KEPT_KEYS:
                        self._inbox_keys.popitem(last=False)


def mcp_endpoint() -> McpEndpoint | None:
    """The /mcp endpoint, or None when the `mcp` package is not installed."""
    try:
        import dispatch_client.mcp  # noqa: F401
    except ImportError:
        return None
    return McpEndpoint()
