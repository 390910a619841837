"""The same round trip with AsyncDispatch.

Run `make dev` first, export the two variables it prints, then:

    python -m examples.otp_roundtrip_async
"""

from __future__ import annotations

import asyncio

from dispatch_client import AsyncDispatch
from examples.otp_roundtrip import a_service_sends_a_code


async def main() -> None:
    async with AsyncDispatch() as d:
        inbox = await d.inboxes.create()
        print(f"inbox: {inbox.address}")
        waiting = asyncio.create_task(d.otp.wait_for_otp(inbox.id, timeout=30))
        await asyncio.to_thread(a_service_sends_a_code, inbox.address)
        print(f"code:  {await waiting}")


if __name__ == "__main__":
    asyncio.run(main())
