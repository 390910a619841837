"""Sending webhook deliveries: the loop that the worker (and, with
DISPATCH_WEBHOOK_DELIVER_IN_API, the API process) runs, never the request that made the event.

Each round it claims the deliveries that are due (dispatch_server.domain.webhooks.claim: a
lease, so two processes never attempt one delivery at once), POSTs each one's body signed as
Standard Webhooks says (`webhook-id`, `webhook-timestamp`, `webhook-signature`), through the
SSRF-safe client, and records the outcome: a 2xx is a success, anything else (another
status, a refused target, a timeout, a broken connection) a failed attempt, retried later.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import httpx

from dispatch_server.config.settings import Webhooks
from dispatch_server.core.clock import utcnow
from dispatch_server.db import Database
from dispatch_server.domain import webhooks
from dispatch_server.domain.webhooks import Claimed, Outcome
from dispatch_server.outbound.webhook_client import TargetRefused, WebhookClient

log = logging.getLogger("dispatch_server.webhooks")

USER_AGENT = "Dispatch-Webhooks/1"


def sign(secrets: Sequence[str], webhook_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: one `v1,<base64 HMAC-SHA256>` per secret, space
    separated, each over `{id}.{timestamp}.{body}` keyed with the secret's decoded bytes."""
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    signatures = []
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix(webhooks.SECRET_PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)


class WebhookSender:
    def __init__(
        self,
        db: Database,
        settings: Webhooks,
        *,
        dns_server: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.client = WebhookClient(
            allow_loopback=settings.allow_loopback,
            timeout=settings.timeout_seconds,
            dns_server=dns_server,
        )
        # Longer than an attempt can last (the client's timeout bounds it), so a live
        # attempt's claim never lapses; one whose process died is retried after it.
        self.lease = timedelta(seconds=3 * settings.timeout_seconds + 30)
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._loop: asyncio.Task[None] | None = None
        self._due: asyncio.Event | None = None  # set by a commit here that made one due

    def on_commit(self, notices: set[str]) -> None:
        """A write committed in this process: look for due deliveries now if it made one."""
        if webhooks.DUE_NOTICE in notices and self._due is not None:
            self._due.set()

    async def attempt(self, delivery_id: str) -> webhooks.DeliveryStatus | None:
        """Claim the delivery and attempt it once; what it is now (None: not claimed, or the
        claim was lost). Never raises for the endpoint's sake."""
        claimed = await self.db.run_write(webhooks.claim, delivery_id, self.clock(), self.lease)
        if claimed is None:
            return None
        outcome = await self._send(claimed)
        return await self.db.run_write(
            webhooks.record,
            claimed,
            outcome,
            now=self.clock(),
            schedule=self.settings.retry_schedule,
            disable_after=self.settings.disable_after,
        )

    async def _send(self, claimed: Claimed) -> Outcome:
        timestamp = int(self.clock().timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": claimed.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(claimed.secrets, claimed.webhook_id, timestamp, claimed.body),
        }
        try:
            answer = await self.client.post(claimed.url, claimed.body.encode(), headers)
        except TargetRefused as refused:
            return Outcome(ok=False, error=f"refused: {refused}")
        except TimeoutError:
            return Outcome(ok=False, error=f"timed out after {self.settings.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return Outcome(
                ok=False, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            )
        except Exception as exc:  # a bug here: the attempt counts as failed, never lost
            log.exception("webhook delivery %s: the attempt failed", claimed.id)
            return Outcome(ok=False, error=f"internal error: {type(exc).__name__}")
        if 200 <= answer.status < 300:
            return Outcome(ok=True, status_code=answer.status)
        error = f"HTTP {answer.status}"
        if 300 <= answer.status < 400:
            error += " (redirects are not followed)"
        return Outcome(ok=False, status_code=answer.status, error=error)

    async def _attempt_logged(self, delivery_id: str) -> None:
        async with self._limit:
            try:
                await self.attempt(delivery_id)
            except Exception:
                log.exception("webhook delivery %s: recording failed; it is retried", delivery_id)

    async def run_due(self) -> int:
        """Attempt every delivery due now, `concurrency` at once; how many were due."""
        due = await self.db.run_read(
            webhooks.due, self.clock(), limit=4 * self.settings.concurrency
        )
        await asyncio.gather(*(self._attempt_logged(delivery_id) for delivery_id in due))
        return len(due)

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Send what is due, `concurrency` at once, until `stopping` is set (or the task is
        cancelled). A slot that frees up, or a commit here that made a delivery due, starts
        the next look at once; otherwise the next look is DISPATCH_WEBHOOK_POLL_SECONDS away
        (deliveries made due by other processes, retries coming due)."""
        stopping = stopping or asyncio.Event()
        due = self._due = asyncio.Event()
        sending: dict[str, asyncio.Task[None]] = {}
        stop = asyncio.ensure_future(stopping.wait())
        try:
            while not stopping.is_set():
                due.clear()
                free = self.settings.concurrency - len(sending)
                if free > 0:
                    try:
                        found = await self.db.run_read(
                            webhooks.due, self.clock(), limit=free + len(sending)
                        )
                    except Exception:
                        log.exception("the webhook loop could not look for deliveries")
                        found = []
                    for delivery_id in found:
                        if delivery_id not in sending and len(sending) < self.settings.concurrency:
                            task = asyncio.ensure_future(self._attempt_logged(delivery_id))
                            sending[delivery_id] = task
                            task.add_done_callback(
                                lambda _, key=delivery_id: sending.pop(key, None)  # type: ignore[misc]
                            )
                woken = asyncio.ensure_future(due.wait())
                try:
                    await asyncio.wait(
                        {woken, stop, *sending.values()},
                        timeout=self.settings.poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    woken.cancel()
        finally:
            stop.cancel()
            # Attempts under way finish (the client's timeout bounds them) and are recorded:
            # cut off, a delivery the receiver took would be sent again after its lease.
            if sending:
                await asyncio.wait(
                    list(sending.values()), timeout=self.settings.timeout_seconds + 5
                )
            for task in list(sending.values()):
                task.cancel()

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self.run())

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self.client.close()
