"""`dispatch mcp`: Dispatch's tools for an MCP client (Claude, Cursor, VS Code...) on stdio.

It acts with the CLI's key and server (the same flags, variables and config file as every
command) and needs the `mcp` extra, imported only when the command runs.
"""

from __future__ import annotations

import asyncio
import os

import click

from dispatch_client.cli._common import example, inbox_option, session_of


@click.command(
    "mcp",
    epilog=example(
        "dispatch mcp --inbox agent@example.com   # as an MCP client starts it\n"
        "claude mcp add dispatch -e DISPATCH_API_KEY=$KEY -- dispatch mcp"
    ),
)
@inbox_option
@click.pass_context
def mcp_command(ctx: click.Context, inbox: str | None) -> None:
    """Serve Dispatch's tools to an MCP client over stdio (needs the mcp extra).

    Tools: create and list inboxes, wait for a one-time code or a link, list and read
    mail, send and reply, memory, and the claim token for a human. The MCP client starts
    this command itself; stdout carries only the protocol. The key, server and default
    inbox come from $DISPATCH_API_KEY, $DISPATCH_BASE_URL, $DISPATCH_INBOX or the config.
    """
    from dispatch_client.mcp import serve_stdio

    session = session_of(ctx)
    state = session.state  # no key: exit status 3, before the protocol starts
    api_key = session.api_key
    assert api_key is not None
    default_inbox = (
        inbox
        or session.flags.inbox
        or os.environ.get("DISPATCH_INBOX", "").strip()
        or state.inbox_id
        or None
    )
    asyncio.run(
        serve_stdio(
            api_key,
            base_url=session.base_url,
            inbox_keys=dict(state.inbox_keys),
            default_inbox=default_inbox,
        )
    )
