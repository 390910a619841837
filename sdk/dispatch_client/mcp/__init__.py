"""Dispatch as an MCP server: the agent's job (inboxes, codes and links, mail, memory, the
claim token) as tools with typed inputs and outputs, built on `AsyncDispatch`.

Two transports: `dispatch mcp` serves stdio for a local MCP client, with the CLI's key and
server; the Dispatch server mounts streamable HTTP at /mcp, acting with each request's
bearer key (`dispatch_server.http.mcp`). Both need the `mcp` extra
(`pip install 'dispatch-client[mcp]'`); without it, importing this package raises
`MCPNotInstalled`, and the rest of the SDK and the CLI work as before.
"""

from __future__ import annotations

from dispatch_client._errors import DispatchError

INSTALL_HINT = "the MCP server needs the mcp extra: pip install 'dispatch-client[mcp]'"


class MCPNotInstalled(DispatchError, ImportError):
    """The `mcp` package (the official MCP Python SDK) is not installed."""


try:
    import mcp.server.mcpserver  # noqa: F401
except ImportError as error:  # pragma: no cover - tested from a plain install
    raise MCPNotInstalled(INSTALL_HINT) from error

from dispatch_client.mcp._server import (  # noqa: E402
    MAX_WAIT_SECONDS,
    Caller,
    Callers,
    create_server,
    shared_caller,
)
from dispatch_client.mcp._stdio import serve_stdio  # noqa: E402

__all__ = [
    "INSTALL_HINT",
    "MAX_WAIT_SECONDS",
    "Caller",
    "Callers",
    "MCPNotInstalled",
    "create_server",
    "serve_stdio",
    "shared_caller",
]
