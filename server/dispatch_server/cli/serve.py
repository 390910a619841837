"""`dispatch-server serve`: the HTTP API. Migrations must have run (`migrate`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from dispatch_server.app import create_app
from dispatch_server.cli._common import http_server, listener, open_database
from dispatch_server.db.urls import redacted

log = logging.getLogger("dispatch_server")


def add_parser(commands: Any) -> None:
    command = commands.add_parser("serve", help="run the HTTP API (migrations must have run)")
    command.add_argument("--host", help="listen address (DISPATCH_HTTP_HOST; default 127.0.0.1)")
    command.add_argument("--port", type=int, help="listen port (DISPATCH_HTTP_PORT; default 8000)")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    settings, sock = listener(
        "HTTP",
        args,
        address=lambda settings: settings.http,
        host_variable="DISPATCH_HTTP_HOST",
        port_variable="DISPATCH_HTTP_PORT",
    )
    asyncio.run(open_database(settings.storage.database_url, migrate=False))
    server = http_server(create_app(settings), settings.http)
    host, port = sock.getsockname()[:2]
    log.info(
        "API on http://%s:%s, database %s", host, port, redacted(settings.storage.database_url)
    )
    asyncio.run(server.serve(sockets=[sock]))
