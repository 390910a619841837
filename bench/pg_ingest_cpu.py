"""What one SMTP message costs the process on PostgreSQL: the RCPT check and the ingest,
called in-process, `--concurrency` at a time, on a fresh database (created and dropped).

    python -m bench.pg_ingest_cpu [--messages 1500]
    strace -f -c -e trace=sendto,recvfrom python -m bench.pg_ingest_cpu --messages 1000

Prints the process's CPU per message (`time.process_time`) and messages per second. Under
`strace -c`, the `sendto` count over the messages is the round trips to PostgreSQL per
message (each asyncpg request is one `sendto`; the setup adds a few hundred).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from bench.common import PG_ADMIN_URL, create_database, drop_database, otp_mail
from dispatch_server.config import Settings
from dispatch_server.domain import workspaces
from dispatch_server.ingest.pipeline import Envelope, check_recipient, ingest
from dispatch_server.migrations import upgrade
from dispatch_server.services import Services

WORKSPACES = 50


async def run(admin_url: str, messages: int, concurrency: int) -> None:
    name = f"dispatch_ingest_cpu_{os.getpid()}"
    url = await create_database(admin_url, name)
    try:
        await upgrade(url)
        settings = Settings.from_env(
            {
                "DATABASE_URL": url,
                "DISPATCH_INBOX_DOMAIN": "bench.test",
                "DISPATCH_DAILY_INBOUND_QUOTA": str(10**9),
            }
        )
        services = await Services.open(settings, listen=False)
        addresses = [
            (
                await services.db.run_write(
                    workspaces.signup, domain="bench.test", name=f"w{n}", local_part=f"a{n}"
                )
            ).inbox.address
            for n in range(WORKSPACES)
        ]
        mails = iter(
            (addresses[n % WORKSPACES], otp_mail(addresses[n % WORKSPACES], f"{100000 + n}", n))
            for n in range(messages)
        )

        async def sender() -> None:
            for address, raw in mails:
                await services.db.run_short_read(check_recipient, address, 10**9)
                await ingest(services, raw, Envelope((address,)))

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{messages} messages: CPU {cpu * 1000 / messages:.2f} ms a message, "
            f"{messages / seconds:.0f} msgs/s"
        )
        await services.close()
    finally:
        await drop_database(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--admin-url", default=PG_ADMIN_URL)
    args = parser.parse_args()
    asyncio.run(run(args.admin_url, args.messages, args.concurrency))


if __name__ == "__main__":
    main()
