"""`dispatch-server serve`: the HTTP API. Migrations must have run (`migrate`)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from dispatch_server.app import create_app
from dispatch_server.cli._common import bind, http_server, read_settings


def add_parser(commands: Any) -> None:
    command = commands.add_parser("serve", help="run the HTTP API (migrations must have run)")
    command.add_argument("--host", help="listen address (DISPATCH_HTTP_HOST; default 127.0.0.1)")
    command.add_argument("--port", type=int, help="listen port (DISPATCH_HTTP_PORT; default 8000)")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    settings = read_settings(
        {
            "DISPATCH_HTTP_HOST": args.host,
            "DISPATCH_HTTP_PORT": None if args.port is None else str(args.port),
        }
    )
    sock = bind(
        settings.http.host,
        settings.http.port,
        what="HTTP",
        flag="--port",
        variable="DISPATCH_HTTP_PORT",
    )
    server = http_server(create_app(settings))
    asyncio.run(server.serve(sockets=[sock]))
