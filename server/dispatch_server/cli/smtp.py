"""`dispatch-server smtp`: the SMTP listener. Migrations must have run (`migrate`).

With `--processes N`, N processes serve one port (SO_REUSEPORT), so parsing mail uses N
cores; each has its own database connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
from typing import Any

from dispatch_server.cli._common import CliError, listener, open_database
from dispatch_server.config import Settings
from dispatch_server.ingest.doors.smtp import start_smtp_server
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server")


def add_parser(commands: Any) -> None:
    command = commands.add_parser("smtp", help="run the SMTP listener (migrations must have run)")
    command.add_argument("--host", help="listen address (DISPATCH_SMTP_HOST; default 127.0.0.1)")
    command.add_argument("--port", type=int, help="listen port (DISPATCH_SMTP_PORT; default 2525)")
    command.add_argument(
        "--processes",
        type=int,
        default=1,
        help="processes serving the port, about one per core to use (default 1)",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    settings, sock = listener(
        "SMTP",
        args,
        address=lambda settings: settings.smtp,
        host_variable="DISPATCH_SMTP_HOST",
        port_variable="DISPATCH_SMTP_PORT",
    )
    if args.processes < 1:
        raise CliError(f"--processes must be at least 1, got {args.processes}")
    asyncio.run(open_database(settings.storage.database_url, migrate=False))
    if args.processes == 1:
        asyncio.run(serve_smtp(settings, sock))
    else:
        serve_in_processes(settings, reuse_port_sockets(sock, args.processes))


def reuse_port_sockets(sock: socket.socket, count: int) -> list[socket.socket]:
    """`count` sockets listening where `sock` did, with SO_REUSEPORT: the kernel spreads new
    connections over them evenly. (One socket shared by all processes would not: whichever
    process wakes first accepts a whole burst of connections.)"""
    host, port = sock.getsockname()[:2]
    family = sock.family
    sock.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            reused = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(reused)
            reused.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            reused.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            reused.bind((host, port))
            reused.listen(128)
            reused.setblocking(False)
    except OSError as error:
        for reused in sockets:
            reused.close()
        raise CliError(f"cannot listen on {host}:{port} for SMTP: {error.strerror}") from None
    return sockets


def serve_in_processes(settings: Settings, sockets: list[socket.socket]) -> None:
    """One forked process per socket; SIGINT or SIGTERM stops them all, and so does one of
    them exiting by itself (then this exits with an error)."""
    children: set[int] = set()
    for sock in sockets:
        pid = os.fork()
        if pid == 0:
            for other in sockets:
                if other is not sock:
                    other.close()
            code = 0
            try:
                asyncio.run(serve_smtp(settings, sock))
            except BaseException:
                log.exception("SMTP process %d failed", os.getpid())
                code = 1
            logging.shutdown()
            os._exit(code)
        children.add(pid)
    for sock in sockets:
        sock.close()
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    failed = False
    while children:
        pid, status = os.wait()
        children.discard(pid)
        if not stopping:
            code = os.waitstatus_to_exitcode(status)
            log.error("SMTP process %d exited (%d); stopping the others", pid, code)
            failed = True
            stop_all()
    if failed:
        raise CliError("an SMTP process exited by itself")


async def serve_smtp(settings: Settings, sock: socket.socket) -> None:
    # This process never waits for mail, so it needs no LISTEN connection of its own.
    async with await Services.open(settings, listen=False) as services:
        server = await start_smtp_server(services, sock=sock)
        host, port = sock.getsockname()[:2]
        log.info(
            "SMTP listener on %s:%s for *@%s (pid %d)",
            host,
            port,
            settings.inboxes.domain,
            os.getpid(),
        )
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
