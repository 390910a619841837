"""The outbox: hands queued sends to the transport and records what came of it.

A send's own request hands it over at once (`hand_over`), shielded from the request being
cancelled so a provider call that started is always recorded. The loop (`run`, started by
the processes that serve the API) picks up whatever is due: sends whose backoff has passed,
and sends whose request died before or during the provider call (their claim lapses, see
dispatch_server.domain.sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dispatch_server.config import Outbound
from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.domain import sends
from dispatch_server.outbound.transports import DeliveryFailed, OutgoingMail, Transport

log = logging.getLogger("dispatch_server.outbound")

POLL_SECONDS = 1.0
LEASE_SECONDS = 900.0
BATCH = 20
RECORD_ATTEMPTS = 3
RECORD_RETRY_SECONDS = 0.5


class Outbox:
    def __init__(self, db: Database, transport: Transport, settings: Outbound) -> None:
        self.db = db
        self.transport = transport
        self.settings = settings
        # Longer than any one provider call lasts (a relay's timeout bounds each of its
        # answers, and a large message takes many), so a live call's claim never lapses and
        # a second process never hands the same send over meanwhile; the price is that a
        # send whose process died mid-call waits this long before it is handed over again.
        self.lease = timedelta(seconds=max(LEASE_SECONDS, 4 * settings.smtp_relay_timeout_seconds))
        self._loop: asyncio.Task[None] | None = None

    async def hand_over(self, send_id: str, *, due_only: bool = False) -> None:
        """Claim the send, hand it to the transport, record the outcome. Nothing happens
        when another claim holds it, or (with `due_only`) when its turn has not come. Never
        raises: the send is committed, and one whose hand-over failed (the database, say)
        stays queued for the loop, once its grace or claim lapses."""
        task = asyncio.ensure_future(self._hand_over_logged(send_id, due_only))
        await asyncio.shield(task)

    async def _hand_over_logged(self, send_id: str, due_only: bool) -> None:
        try:
            await self._hand_over(send_id, due_only)
        except Exception:
            log.exception("outbound %s: the hand-over failed; the outbox tries again", send_id)

    async def _hand_over(self, send_id: str, due_only: bool) -> None:
        claimed = await self.db.run_write(
            sends.claim, send_id, utcnow(), self.lease, due_only=due_only
        )
        if claimed is None:
            return
        mail = OutgoingMail(
            outbound_id=claimed.id,
            sender=claimed.sender,
            recipients=claimed.recipients,
            raw=claimed.raw,
            message_id=claimed.message_id,
        )
        try:
            accepted = await self.transport.deliver(mail)
        except DeliveryFailed as failed:
            log.info(
                "outbound %s: %s failure (attempt %d): %s",
                send_id,
                "permanent" if failed.permanent else "transient",
                claimed.attempts,
                failed.reason,
            )
            await self._record(
                sends.record_failure,
                claimed,
                failed.reason,
                permanent=failed.permanent,
                max_attempts=self.settings.max_attempts,
            )
            return
        except Exception as exc:  # a bug in a transport: retried, never lost
            log.exception("outbound %s: the %s transport failed", send_id, self.transport.name)
            await self._record(
                sends.record_failure,
                claimed,
                f"internal error: {type(exc).__name__}",
                permanent=False,
                max_attempts=self.settings.max_attempts,
            )
            return
        await self._record(sends.record_accepted, claimed, accepted)

    async def _record(self, record: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Record what the provider said, again after a failed transaction: a claim left
        unrecorded lapses, and the send is handed over a second time."""
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                await self.db.run_write(record, *args, now=utcnow(), **kwargs)
                return
            except Exception:
                if attempt == RECORD_ATTEMPTS:
                    raise
                log.warning("outbound: recording failed (attempt %d)", attempt, exc_info=True)
                await asyncio.sleep(RECORD_RETRY_SECONDS * attempt)

    async def run_due(self) -> int:
        """Hand over the sends that are due now; how many were looked at."""
        due = await self.db.run_read(sends.due, utcnow(), limit=BATCH)
        for send_id in due:
            await self.hand_over(send_id, due_only=True)
        return len(due)

    async def run(self) -> None:
        while True:
            try:
                if await self.run_due() == BATCH:
                    continue
            except Exception:
                log.exception("the outbox loop failed; it goes on")
            await asyncio.sleep(POLL_SECONDS)

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self.run())

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self.transport.close()
