"""`dispatch mcp`: the MCP server on stdin/stdout, with one client for the process."""

from __future__ import annotations

from collections.abc import Mapping

from dispatch_client._client import AsyncDispatch
from dispatch_client.mcp._server import Caller, create_server, shared_caller


async def serve_stdio(
    api_key: str,
    *,
    base_url: str,
    inbox_keys: Mapping[str, str] | None = None,
    default_inbox: str | None = None,
) -> None:
    """Serve MCP on stdio until the client closes it, acting with `api_key`."""
    async with AsyncDispatch(api_key, base_url=base_url, inbox_keys=inbox_keys) as client:
        caller = Caller(
            client=client,
            identity=api_key.split(".", 1)[0],
            default_inbox=default_inbox,
            secrets=(api_key, *(inbox_keys or {}).values()),
        )
        server = create_server(lambda _ctx: shared_caller(caller))
        await server.run_stdio_async()
