"""`dispatch-server worker`: the SES inbound worker. Migrations must have run (`migrate`).

SIGTERM or Ctrl-C stops it gracefully: nothing more is received, the messages in hand are
stored and deleted, and it exits. A second signal exits at once; what was in hand then is
not deleted and comes back from SQS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from dispatch_server.cli._common import CliError, open_database, read_settings
from dispatch_server.config import Settings
from dispatch_server.services import Services
from dispatch_server.worker.runner import WorkerSetupError, run_worker

log = logging.getLogger("dispatch_server")

REQUIRED = ("DISPATCH_SQS_QUEUE_URL", "DISPATCH_SES_INBOUND_S3_BUCKET")


def add_parser(commands: Any) -> None:
    command = commands.add_parser(
        "worker",
        help="run the SES inbound worker: mail SES stored in S3, announced through SQS "
        "(migrations must have run)",
    )
    command.add_argument(
        "--concurrency",
        type=int,
        help="messages handled at once (DISPATCH_WORKER_CONCURRENCY; default 8)",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    concurrency = None if args.concurrency is None else str(args.concurrency)
    settings = read_settings({"DISPATCH_WORKER_CONCURRENCY": concurrency})
    worker = settings.worker
    missing = [
        name
        for name, value in zip(REQUIRED, (worker.queue_url, worker.bucket), strict=True)
        if not value
    ]
    if missing:
        raise CliError("the worker needs " + " and ".join(missing))
    asyncio.run(open_database(settings.storage.database_url, migrate=False))
    try:
        asyncio.run(serve_worker(settings))
    except WorkerSetupError as error:
        raise CliError(str(error)) from None


async def serve_worker(settings: Settings) -> None:
    # The worker never waits for mail; its ingests notify the API processes (PostgreSQL).
    async with await Services.open(settings, listen=False) as services:
        stopping = asyncio.Event()
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def stop() -> None:
            if stopping.is_set() and main is not None:
                log.warning("stopping now: messages in hand come back from SQS")
                main.cancel()
            else:
                log.info(
                    "stopping: finishing the messages in hand, after the receive under way "
                    "(at most %d s; a second signal stops at once)",
                    settings.worker.wait_seconds,
                )
                stopping.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        with contextlib.suppress(asyncio.CancelledError):
            await run_worker(services, stopping)
