"""`dispatch-server`: serve | smtp | migrate | dev."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

import attrs
import uvicorn

from dispatch_server.app import create_app
from dispatch_server.auth import authenticate
from dispatch_server.config import ConfigError, Settings
from dispatch_server.db import Database
from dispatch_server.domain import workspaces
from dispatch_server.errors import ApiError
from dispatch_server.ingest.smtp import start_smtp_server
from dispatch_server.migrations import upgrade
from dispatch_server.notify import Hub

log = logging.getLogger("dispatch_server")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dispatch-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API (migrations must have run)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    sub.add_parser("smtp", help="run the SMTP listener (migrations must have run)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    dev = sub.add_parser(
        "dev", help="API + SMTP listener + SQLite in one process, migrated, with an account key"
    )
    dev.add_argument("--data-dir", default=".dispatch", help="where the SQLite file lives")
    dev.add_argument("--port", type=int, help="HTTP port (default 8000)")
    dev.add_argument("--smtp-port", type=int, help="SMTP port (default 2525)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("DISPATCH_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "dev":
            settings = dev_settings(Path(args.data_dir), args.port, args.smtp_port)
        else:
            settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"dispatch-server: configuration error: {exc}")
    if args.command == "migrate":
        asyncio.run(upgrade(settings.database_url))
        print("migrations applied")
    elif args.command == "serve":
        settings = attrs.evolve(
            settings,
            http_host=args.host or settings.http_host,
            http_port=args.port or settings.http_port,
        )
        uvicorn.run(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="info",
            lifespan="on",
        )
    elif args.command == "smtp":
        asyncio.run(run_smtp(settings))
    else:
        asyncio.run(run_dev(settings, Path(args.data_dir)))


def dev_settings(data_dir: Path, port: int | None, smtp_port: int | None) -> Settings:
    env = dict(os.environ)
    data_dir.mkdir(parents=True, exist_ok=True)
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{(data_dir / 'dispatch.db').resolve()}")
    token_file = data_dir / "inbound-token"
    if "DISPATCH_INBOUND_TOKEN" not in env:
        if not token_file.exists():
            token_file.write_text(secrets.token_urlsafe(24))
            token_file.chmod(0o600)
        env["DISPATCH_INBOUND_TOKEN"] = token_file.read_text().strip()
    if port is not None:
        env["DISPATCH_HTTP_PORT"] = str(port)
    if smtp_port is not None:
        env["DISPATCH_SMTP_PORT"] = str(smtp_port)
    env["DISPATCH_ENV"] = "development"
    return Settings.from_env(env)


async def run_smtp(settings: Settings) -> None:
    db = Database(settings.database_url)
    hub = Hub()
    server = await start_smtp_server(db, hub, settings)
    log.info("SMTP listener on %s:%s", settings.smtp_host, settings.smtp_port)
    try:
        await _until_signalled()
    finally:
        server.close()
        await server.wait_closed()
        await db.dispose()


async def run_dev(settings: Settings, data_dir: Path) -> None:
    await upgrade(settings.database_url)
    account_key = await _dev_account_key(settings, data_dir)
    config = uvicorn.Config(
        create_app(settings, with_smtp=True),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    base_url = f"http://{settings.http_host}:{settings.http_port}"
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn exposes a flag)
        await asyncio.sleep(0.05)
    if serving.done():
        await serving
        return
    print(
        "\nDispatch dev server is ready\n"
        f"  API            {base_url}\n"
        f"  SMTP           {settings.smtp_host}:{settings.smtp_port}"
        f"  (mail for *@{settings.inbox_domain})\n"
        f"  database       {settings.database_url}\n"
        f"  inbound token  {settings.inbound_token}\n\n"
        f"  export DISPATCH_BASE_URL={base_url}\n"
        f"  export DISPATCH_API_KEY={account_key}\n",
        flush=True,
    )
    await serving


async def _dev_account_key(settings: Settings, data_dir: Path) -> str:
    """The dev workspace's account key: created on first run, kept beside the database."""
    key_file = data_dir / "account-key"
    db = Database(settings.database_url)
    try:
        if key_file.exists():
            kept = key_file.read_text().strip()
            try:
                await db.run_read(authenticate, kept)
                return kept
            except ApiError:
                log.warning("the kept dev key is not in this database; creating a new workspace")
        result = await db.run_write(
            workspaces.signup, domain=settings.inbox_domain, name="dev", local_part=None
        )
    finally:
        await db.dispose()
    key_file.write_text(result.account_key)
    key_file.chmod(0o600)
    return result.account_key


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    main()
