"""`dispatch-server smtp`: the SMTP listener. Migrations must have run (`migrate`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from typing import Any

from dispatch_server.cli._common import listener, open_database
from dispatch_server.config import Settings
from dispatch_server.ingest.doors.smtp import start_smtp_server
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server")


def add_parser(commands: Any) -> None:
    command = commands.add_parser("smtp", help="run the SMTP listener (migrations must have run)")
    command.add_argument("--host", help="listen address (DISPATCH_SMTP_HOST; default 127.0.0.1)")
    command.add_argument("--port", type=int, help="listen port (DISPATCH_SMTP_PORT; default 2525)")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    settings, sock = listener(
        "SMTP",
        args,
        address=lambda settings: settings.smtp,
        host_variable="DISPATCH_SMTP_HOST",
        port_variable="DISPATCH_SMTP_PORT",
    )
    asyncio.run(open_database(settings.storage.database_url, migrate=False))
    asyncio.run(serve_smtp(settings, sock))


async def serve_smtp(settings: Settings, sock: socket.socket) -> None:
    # This process never waits for mail, so it needs no LISTEN connection of its own.
    async with await Services.open(settings, listen=False) as services:
        server = await start_smtp_server(services, sock=sock)
        host, port = sock.getsockname()[:2]
        log.info("SMTP listener on %s:%s for *@%s", host, port, settings.inboxes.domain)
        try:
            await until_signalled()
        finally:
            server.close()


async def until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
