"""What the commands share: settings with flag overrides, logging, sockets, the HTTP server."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

import uvicorn
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette

from dispatch_server.config import ConfigError, Http, Settings, Smtp
from dispatch_server.db.urls import redacted
from dispatch_server.http.protocol import protocol_class
from dispatch_server.migrations import current_revision, head_revision, upgrade
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server")

# How long in-flight requests get to finish once the server is told to stop. Waits end at
# once (the hub wakes them), so this only bounds a slow request.
GRACEFUL_SHUTDOWN_SECONDS = 3


class CliError(Exception):
    """Something the user can fix, said in one line."""


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Alembic narrates every migration run at INFO; `migrate` says what it did itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # botocore says at INFO where it found the AWS credentials, in every process.
    logging.getLogger("botocore").setLevel(logging.WARNING)


def read_settings(
    overrides: Mapping[str, str | None], base: Mapping[str, str] | None = None
) -> Settings:
    """The settings from the environment (or `base`), with the given variables overridden
    (None: keep the environment's)."""
    env = dict(os.environ if base is None else base)
    env.update({name: value for name, value in overrides.items() if value is not None})
    try:
        return Settings.from_env(env)
    except ConfigError as error:
        raise CliError(f"configuration error: {error}") from None


def listener(
    what: str,
    args: argparse.Namespace,
    *,
    address: Callable[[Settings], Http | Smtp],
    host_variable: str,
    port_variable: str,
) -> tuple[Settings, socket.socket]:
    """The settings with the command's `--host`/`--port` applied, and a socket listening
    where they say (`address` picks the listener's group of settings)."""
    settings = read_settings(
        {host_variable: args.host, port_variable: None if args.port is None else str(args.port)}
    )
    chosen = address(settings)
    sock = bind(chosen.host, chosen.port, what=what, flag="--port", variable=port_variable)
    return settings, sock


def bind(host: str, port: int, *, what: str, flag: str, variable: str) -> socket.socket:
    """A listening TCP socket, or a one-line CliError saying which port is taken and how to
    choose another."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP given explicitly: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise CliError(
                f"{what} port {port} on {host} is already in use; choose another with {flag}, "
                f"or {variable}=… in the environment (also for make dev)"
            ) from None
        if error.errno == errno.EACCES:
            raise CliError(
                f"not allowed to listen on {what} port {port} on {host}; choose another with "
                f"{flag} or {variable}"
            ) from None
        raise CliError(f"cannot listen on {host}:{port} for {what}: {error.strerror}") from None
    sock.setblocking(False)
    return sock


async def open_database(url: str, *, migrate: bool) -> None:
    """Migrate the database (`migrate`), else check that it is migrated; a one-line CliError
    naming the database (never its password) when it cannot be reached or is behind."""
    try:
        if migrate:
            await upgrade(url)
            return
        current = await current_revision(url)
    except Exception as error:  # whatever the driver raises: refused, unknown host, no file
        _let_driver_threads_finish()
        raise CliError(f"cannot open the database {redacted(url)}: {_reason(error)}") from None
    if current != head_revision():
        raise CliError(
            f"the database {redacted(url)} is not migrated (it is at {current or 'nothing'}, "
            f"this version needs {head_revision()}): run dispatch-server migrate"
        )


def _let_driver_threads_finish(seconds: float = 1.0) -> None:
    """aiosqlite stops the thread of a connection that failed to open without waiting for it,
    and that thread then reports to the event loop: were the loop closed by then (the command
    exits), it would print a traceback under the one-line error."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(seconds)


def _reason(error: Exception) -> str:
    """The driver's own words, on one line, without SQLAlchemy's wrapping."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = str(cause).strip().splitlines()
    return (text[0] if text else type(cause).__name__)[:300]


class _Server(uvicorn.Server):
    """uvicorn, but stopping first ends every open wait, so that Ctrl-C does not sit behind
    long polls until their timeouts."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services: Services | None = getattr(self._app.state, "services", None)
        if services is not None:
            services.hub.stop()
        await super().shutdown(sockets)


def http_server(app: Starlette, http: Http) -> uvicorn.Server:
    """uvicorn for the app, on httptools with the request deadlines of `http` (see
    dispatch_server.http.protocol)."""
    config = uvicorn.Config(
        app,
        http=protocol_class(http),
        log_level="warning",  # the app logs one line per request itself (AccessLog)
        access_log=False,
        # The client address is the app's to decide (DISPATCH_TRUSTED_PROXIES): uvicorn would
        # otherwise believe X-Forwarded-For from 127.0.0.1.
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return _Server(config, app)
