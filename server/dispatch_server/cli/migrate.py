"""`dispatch-server migrate`: apply the database migrations and exit (once per deploy)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from dispatch_server.cli._common import open_database, read_settings
from dispatch_server.db.urls import redacted


def add_parser(commands: Any) -> None:
    command = commands.add_parser("migrate", help="apply database migrations and exit")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    settings = read_settings({})
    asyncio.run(open_database(settings.storage.database_url, migrate=True))
    print(f"migrations applied to {redacted(settings.storage.database_url)}")
