"""MCP sessions against a live server, through the MCP SDK's own clients: `dispatch mcp` as a
child process on stdio, and the server's /mcp over streamable HTTP."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from tests.conftest import LiveServer

ROOT = Path(__file__).parents[2]
DISPATCH = str(Path(sys.executable).parent / "dispatch")  # the installed script


@contextlib.asynccontextmanager
async def stdio_session(
    live_server: LiveServer, key: str, home: Path, **env: str
) -> AsyncIterator[ClientSession]:
    """`dispatch mcp` in a child process, with `key` and the live server in its environment."""
    variables = {
        "PYTHONPATH": os.environ.get("PYTHONPATH", f"{ROOT / 'server'}:{ROOT / 'sdk'}"),
        "DISPATCH_API_KEY": key,
        "DISPATCH_BASE_URL": live_server.base_url,
        "DISPATCH_CONFIG": str(home / "config.toml"),
        "HOME": str(home),
        **env,
    }
    params = StdioServerParameters(command=DISPATCH, args=["mcp"], env=variables)
    with (home / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def http_session(live_server: LiveServer, key: str) -> AsyncIterator[ClientSession]:
    """The server's /mcp with `Authorization: Bearer <key>`."""
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=330)) as http,
        streamable_http_client(f"{live_server.base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured answer; the call must succeed."""
    result = await session.call_tool(name, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


async def fail(session: ClientSession, name: str, **arguments: Any) -> str:
    """The text of a tool error; the call must fail as a tool error, not a protocol one."""
    result = await session.call_tool(name, arguments)
    assert result.is_error, result
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))
