"""The SMTP door: an aiosmtpd listener that replies 250 only once the message is committed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from dispatch_server.config import Settings
from dispatch_server.db import Database
from dispatch_server.ingest.pipeline import (
    Envelope,
    IngestRejected,
    check_recipient,
    ingest,
)
from dispatch_server.notify import Hub

log = logging.getLogger(__name__)

TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please retry"


class IngestHandler:
    def __init__(self, db: Database, hub: Hub, settings: Settings) -> None:
        self.db = db
        self.hub = hub
        self.settings = settings

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        options: list[str],
    ) -> str:
        try:
            refusal = await self.db.run_read(
                check_recipient, address, self.settings.daily_inbound_quota
            )
        except Exception:
            log.exception("recipient check failed; asking the sender to retry")
            return TEMPORARY_FAILURE
        if refusal is not None:
            return refusal.smtp_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            return "554 5.6.0 Message content missing"
        try:
            await ingest(
                self.db,
                self.hub,
                self.settings,
                raw,
                Envelope(recipients=tuple(envelope.rcpt_tos), mail_from=envelope.mail_from),
            )
        except IngestRejected as exc:
            return exc.smtp_reply
        except Exception:
            log.exception("ingest failed; asking the sender to retry")
            return TEMPORARY_FAILURE
        return "250 2.0.0 Message accepted"

    async def handle_exception(self, error: Exception) -> str:
        # Anything else that goes wrong in a session: a transient 4xx without internals,
        # rather than aiosmtpd's default 500 that carries the exception text.
        log.error("SMTP session error", exc_info=error)
        return TEMPORARY_FAILURE


async def start_smtp_server(
    db: Database, hub: Hub, settings: Settings, *, host: str | None = None, port: int | None = None
) -> asyncio.Server:
    """Serve SMTP on the running event loop, beside the API (so in-process wake-ups work)."""
    handler = IngestHandler(db, hub, settings)

    def factory() -> Any:
        return SMTP(
            handler,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.smtp_hostname,
            ident="Dispatch ESMTP",
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(
        factory, host=host or settings.smtp_host, port=settings.smtp_port if port is None else port
    )
