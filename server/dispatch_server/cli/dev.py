"""`dispatch-server dev`: API + SMTP listener + SQLite in one process, migrated, with an
account key printed and kept beside the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from dispatch_server.app import create_app
from dispatch_server.auth.api_keys import authenticate
from dispatch_server.cli._common import CliError, bind, http_server, open_database, read_settings
from dispatch_server.config import Settings
from dispatch_server.core.errors import DomainError
from dispatch_server.db.urls import redacted
from dispatch_server.domain import inboxes, workspaces
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server")


def add_parser(commands: Any) -> None:
    command = commands.add_parser(
        "dev", help="API + SMTP listener + SQLite in one process, migrated, with an account key"
    )
    command.add_argument(
        "--data-dir", default=".dispatch", help="where the SQLite file and keys live (.dispatch)"
    )
    command.add_argument("--host", help="listen address of both servers (default 127.0.0.1)")
    command.add_argument("--port", type=int, help="HTTP port (DISPATCH_HTTP_PORT; default 8000)")
    command.add_argument(
        "--smtp-port", type=int, help="SMTP port (DISPATCH_SMTP_PORT; default 2525)"
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    settings = dev_settings(data_dir, args.host, args.port, args.smtp_port)
    if settings.http.port == settings.smtp.port != 0:
        raise CliError(
            f"the HTTP and SMTP listeners need different ports, both are {settings.http.port}"
        )
    http_socket = bind(
        settings.http.host,
        settings.http.port,
        what="HTTP",
        flag="--port",
        variable="DISPATCH_HTTP_PORT",
    )
    smtp_socket = bind(
        settings.smtp.host,
        settings.smtp.port,
        what="SMTP",
        flag="--smtp-port",
        variable="DISPATCH_SMTP_PORT",
    )
    if asyncio.run(serve_dev(settings, data_dir, http_socket, smtp_socket)):
        # Ready, then stopped: only a signal stops it. uvicorn raises the signal again once
        # shut down, which asyncio turns into KeyboardInterrupt, except when the main task
        # finished first in the same loop pass; this makes the exit status 130 either way.
        raise KeyboardInterrupt


def dev_settings(
    data_dir: Path, host: str | None, port: int | None, smtp_port: int | None
) -> Settings:
    """The environment's settings, in development mode, with the database and the inbound
    token in `data_dir` (and uploaded files under it) unless the environment names others."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{(data_dir / 'dispatch.db').resolve()}")
    env.setdefault("DISPATCH_ASSETS_PATH", str((data_dir / "assets").resolve()))
    # Webhooks to a receiver on this machine, sent by this process (there is no worker).
    env.setdefault("DISPATCH_WEBHOOK_ALLOW_LOOPBACK", "true")
    env.setdefault("DISPATCH_WEBHOOK_DELIVER_IN_API", "true")
    token_file = data_dir / "inbound-token"
    if "DISPATCH_INBOUND_TOKEN" not in env:
        if not token_file.exists():
            token_file.write_text(secrets.token_urlsafe(24))
            token_file.chmod(0o600)
        env["DISPATCH_INBOUND_TOKEN"] = token_file.read_text().strip()
    return read_settings(
        {
            "DISPATCH_ENV": "development",
            "DISPATCH_HTTP_HOST": host,
            "DISPATCH_SMTP_HOST": host,
            "DISPATCH_HTTP_PORT": None if port is None else str(port),
            "DISPATCH_SMTP_PORT": None if smtp_port is None else str(smtp_port),
        },
        base=env,
    )


async def serve_dev(
    settings: Settings, data_dir: Path, http_socket: socket.socket, smtp_socket: socket.socket
) -> bool:
    """Serve until stopped; True if it was ready first (False: it failed to start)."""
    await open_database(settings.storage.database_url, migrate=True)
    account_key = await dev_account_key(settings, data_dir)
    dev_inbox = await dev_inbox_address(settings, account_key)
    app = create_app(settings, with_smtp=True, smtp_socket=smtp_socket)
    server = http_server(app, settings.http)
    serving = asyncio.create_task(server.serve(sockets=[http_socket]))
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn exposes a flag)
        await asyncio.sleep(0.05)
    if serving.done():
        await serving
        return False
    http_host, http_port = http_socket.getsockname()[:2]
    smtp_host, smtp_port = smtp_socket.getsockname()[:2]
    base_url = f"http://{http_host}:{http_port}"
    print(
        "\nDispatch dev server is ready\n"
        f"  API            {base_url}   (OpenAPI: {base_url}/openapi.json)\n"
        f"  console        {base_url}/   (in a browser)\n"
        f"  dev inbox      {dev_inbox}   (sign up in the console with this address;\n"
        "                 `dispatch mail code --since 10m` in the other shell prints its code)\n"
        f"  SMTP           {smtp_host}:{smtp_port}  (mail for *@{settings.inboxes.domain})\n"
        f"  database       {redacted(settings.storage.database_url)}\n"
        f"  inbound token  {settings.inbound.token}\n\n"
        "  In another shell (with this checkout's virtualenv: source .venv/bin/activate):\n"
        f"  export DISPATCH_BASE_URL={base_url}\n"
        f"  export DISPATCH_API_KEY={account_key}\n"
        f"  export DISPATCH_SMTP_PORT={smtp_port}   # for the examples' mail\n\n"
        "  Ctrl-C stops it.\n",
        flush=True,
    )
    await serving
    return True


async def dev_inbox_address(settings: Settings, account_key: str) -> str:
    """The address of the dev workspace's first inbox."""
    async with await Services.open(settings, listen=False) as services:
        principal = await services.db.run_read(authenticate, account_key)
        found = await services.db.run_read(
            inboxes.list_inboxes, principal.workspace_id, limit=1, cursor=None
        )
    return found.items[0].address if found.items else "(none)"


async def dev_account_key(settings: Settings, data_dir: Path) -> str:
    """The dev workspace's account key: created on first run, kept beside the database."""
    key_file = data_dir / "account-key"
    async with await Services.open(settings, listen=False) as services:
        if key_file.exists():
            kept = key_file.read_text().strip()
            try:
                await services.db.run_read(authenticate, kept)
                return kept
            except DomainError:
                log.warning("the kept dev key is not in this database; creating a new workspace")
        result = await services.db.run_write(
            workspaces.signup, domain=settings.inboxes.domain, name="dev", local_part=None
        )
    key_file.write_text(result.account_key)
    key_file.chmod(0o600)
    return result.account_key
