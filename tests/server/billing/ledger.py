"""What the x402 flow tests read and change straight in a live server's database: the
ledger a refused confirmation must leave untouched, and a quote's expiry moved back (a quote
lives at least 60 seconds, too long to wait for in a test)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import attrs
import httpx
import sqlalchemy as sa

from dispatch_server.db import Database
from dispatch_server.db import tables as t
from tests.conftest import LiveServer


@attrs.frozen
class Ledger:
    """What a workspace's payments left: verified transactions, x402 billing events, and
    the entitlements the API lists."""

    verifications: int
    events: int
    entitlements: int
    plan: str


def ledger(server: LiveServer, workspace_id: str, account: dict[str, str]) -> Ledger:
    def count(conn: sa.Connection) -> tuple[int, int]:
        verified = t.billing_transaction_verifications
        recorded = t.billing_events
        verifications = conn.scalar(
            sa.select(sa.func.count()).where(verified.c.workspace_id == workspace_id)
        )
        events = conn.scalar(
            sa.select(sa.func.count()).where(
                recorded.c.provider == "x402", recorded.c.workspace_id == workspace_id
            )
        )
        return int(verifications or 0), int(events or 0)

    async def read() -> tuple[int, int]:
        db = Database(server.database_url)
        try:
            return await db.run_read(count)
        finally:
            await db.dispose()

    verifications, events = asyncio.run(read())
    listed = httpx.get(f"{server.base_url}/v1/billing/entitlements", headers=account)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    return Ledger(
        verifications=verifications,
        events=events,
        entitlements=len(body["data"]),
        plan=body["plan"],
    )


NOTHING = Ledger(verifications=0, events=0, entitlements=0, plan="free")
PAID = Ledger(verifications=1, events=1, entitlements=1, plan="multi_inbox")


def expire_quote(server: LiveServer, quote_id: str, expires_at: datetime) -> None:
    """Move the quote's expiry back to `expires_at`, as if its time had run out."""

    def update(conn: sa.Connection) -> None:
        moved = conn.execute(
            sa.update(t.billing_quotes)
            .where(t.billing_quotes.c.id == quote_id)
            .values(expires_at=expires_at)
        )
        assert moved.rowcount == 1

    async def write() -> None:
        db = Database(server.database_url)
        try:
            await db.run_write(update)
        finally:
            await db.dispose()

    asyncio.run(write())
