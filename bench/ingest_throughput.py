"""Ingest throughput on SQLite: the pipeline called directly, and through the SMTP door.

    python -m bench.ingest_throughput [--messages 3000] [--concurrency 8] [--smtp-clients 4]

Target (2 cores): >= 600 msgs/s through the ingest function with SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import tempfile
import threading
import time
from pathlib import Path

from bench.common import otp_mail, start_dev_server
from dispatch_client import Dispatch
from dispatch_server.config import Settings
from dispatch_server.domain import workspaces
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.migrations import upgrade
from dispatch_server.services import Services


async def direct(messages: int, concurrency: int) -> float:
    path = Path(tempfile.mkdtemp(prefix="dispatch-bench-")) / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    settings = Settings.from_env(
        {
            "DATABASE_URL": url,
            "DISPATCH_INBOX_DOMAIN": "bench.test",
            "DISPATCH_DAILY_INBOUND_QUOTA": str(10**9),
        }
    )
    services = await Services.open(settings, listen=False)
    signup = await services.db.run_write(
        workspaces.signup, domain="bench.test", name="bench", local_part="bot"
    )
    address = signup.inbox.address
    mails = [otp_mail(address, f"{100000 + i}", i) for i in range(messages)]
    queue = iter(mails)

    async def worker() -> None:
        for raw in queue:
            await ingest(services, raw, Envelope((address,)))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await services.close()
    return messages / elapsed


def through_smtp(messages: int, clients: int) -> float:
    # Each client sends its share on one connection: lift the per-connection command cap.
    server = start_dev_server(
        {"DISPATCH_DAILY_INBOUND_QUOTA": str(10**9), "DISPATCH_SMTP_MAX_COMMANDS": str(10**7)}
    )
    try:
        with Dispatch(api_key=server.account_key, base_url=server.base_url) as d:
            address = d.inboxes.list(limit=1).data[0].address  # the dev workspace's inbox
        per_client = messages // clients
        mails = [otp_mail(address, f"{100000 + i}", i) for i in range(per_client * clients)]

        def send(chunk: list[bytes]) -> None:
            with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
                for raw in chunk:
                    client.sendmail("no-reply@acme.test", [address], raw)

        threads = [
            threading.Thread(target=send, args=(mails[i * per_client : (i + 1) * per_client],))
            for i in range(clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return len(mails) / (time.perf_counter() - started)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--smtp-clients", type=int, default=4)
    args = parser.parse_args()
    rate = asyncio.run(direct(args.messages, args.concurrency))
    print(f"ingest function, SQLite, {args.concurrency} concurrent: {rate:,.0f} msgs/s")
    rate = through_smtp(args.messages, args.smtp_clients)
    print(
        f"SMTP door (dev server, {args.smtp_clients} clients, 250 after commit): {rate:,.0f} msgs/s"
    )


if __name__ == "__main__":
    main()
