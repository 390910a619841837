"""The SMTP door: an aiosmtpd listener that replies 250 only once the message is committed,
within limits on what any client can make it hold (see protocol and limits)."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time
from pathlib import Path

from aiosmtpd.smtp import SMTP, Session, TLSSetupException
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.ingest.doors.smtp.limits import (
    AcceptErrorFilter,
    BurstLog,
    ByteBudget,
    Connections,
)
from dispatch_server.ingest.doors.smtp.protocol import MESSAGE_TOO_BIG, DoorProtocol, DoorState
from dispatch_server.ingest.doors.smtp.tls import Certificate
from dispatch_server.ingest.pipeline import Envelope, check_recipient, ingest
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server.smtp")

TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please retry"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"  # RFC 5321 §4.5.3.1.10: send the rest later

# What a refusal of the pipeline is on the wire. Permanent (5xx) unless retrying can help.
REPLIES: dict[ErrorCode, str] = {
    ErrorCode.UNKNOWN_RECIPIENT: "550 5.1.1 No such inbox here",
    ErrorCode.QUOTA_EXCEEDED: "452 4.2.2 Mailbox over daily quota, try again tomorrow",
    ErrorCode.MESSAGE_TOO_LARGE: MESSAGE_TOO_BIG,
    ErrorCode.UNPARSEABLE_MESSAGE: "554 5.6.0 {message}",
    ErrorCode.SENDER_BLOCKED: "550 5.7.1 The recipient does not accept mail from this sender",
}


def reply_for(error: DomainError) -> str:
    template = REPLIES.get(error.code)
    if template is None:  # no other refusal is expected from the pipeline
        log.error("no SMTP reply for %s: %s", error.code, error.message)
        return TEMPORARY_FAILURE
    return template.format(message=error.message)


# An address whose workspace had more than QUOTA_MARGIN messages of today's quota left is
# taken at RCPT again for REMEMBER_SECONDS without asking the database. The check is advice:
# the ingest transaction checks the inbox and the quota again (a quota used up meanwhile is a
# 452 at DATA), and a busy door gets most of its mail for addresses that took mail a moment
# before. Near the end of a quota, for every refusal, and for an inbox that receive lists
# apply to (their answer depends on the sender), each RCPT asks.
REMEMBER_SECONDS = 1.0
QUOTA_MARGIN = 100
REMEMBERED_ADDRESSES = 10_000


class AcceptedRecipients:
    """The addresses the RCPT check took lately, each until its moment passes."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def knows(self, address: str, now: float) -> bool:
        until = self._until.get(address)
        if until is None:
            return False
        if until > now:
            return True
        del self._until[address]
        return False

    def remember(self, address: str, now: float) -> None:
        if len(self._until) >= REMEMBERED_ADDRESSES:
            self._until.clear()
        self._until[address] = now + REMEMBER_SECONDS


class IngestHandler:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.accepted = AcceptedRecipients()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        address: str,
        options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self.services.settings.inbound.max_recipients:
            return TOO_MANY_RECIPIENTS
        now = time.monotonic()
        if not self.accepted.knows(address, now):
            quota = self.services.settings.inbound.daily_quota
            try:
                found = await self.services.db.run_short_read(
                    check_recipient, address, quota, envelope.mail_from or None
                )
            except Exception:
                log.exception("recipient check failed; asking the sender to retry")
                return TEMPORARY_FAILURE
            if found.refusal is not None:
                reply = reply_for(found.refusal)
                log.info("RCPT %s from %s: %s", address, _peer(session), reply)
                return reply
            # A recipient with receive lists is asked about each sender: remembering it by
            # address would let a blocked sender through after an allowed one.
            if found.quota_left > QUOTA_MARGIN and not found.listed:
                self.accepted.remember(address, now)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        started = time.perf_counter()
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            return "554 5.6.0 Message content missing"
        recipients = tuple(envelope.rcpt_tos)
        try:
            verdicts = await self.services.auth.check(
                raw,
                client_ip=_peer_ip(session),
                helo=session.host_name,
                mail_from=envelope.mail_from,
            )
            await ingest(
                self.services,
                raw,
                Envelope(
                    recipients=recipients,
                    mail_from=envelope.mail_from,
                    verdicts=verdicts,
                    door="smtp",
                ),
            )
        except DomainError as error:
            reply = reply_for(error)
        except Exception:
            log.exception("ingest failed; asking the sender to retry")
            reply = TEMPORARY_FAILURE
        else:
            reply = "250 2.0.0 Message accepted"
        log.info(
            "SMTP %s from=<%s> to=%s %d bytes: %s (%.1f ms)",
            _peer(session),
            envelope.mail_from or "",
            ",".join(recipients),
            len(raw),
            reply.split(" ", 1)[0],
            (time.perf_counter() - started) * 1000,
        )
        return reply

    async def handle_exception(self, error: Exception) -> str:
        # Anything else that goes wrong in a session: a transient 4xx without internals,
        # rather than aiosmtpd's default 500 that carries the exception text.
        if isinstance(error, TLSSetupException):  # the client's doing; aiosmtpd closes
            log.info("SMTP STARTTLS handshake failed: %s", error.__cause__)
        else:
            log.error("SMTP session error", exc_info=error)
        return TEMPORARY_FAILURE


def _peer_ip(session: Session) -> str | None:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


def _peer(session: Session) -> str:
    peer = session.peer
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


# aiosmtpd logs every command at INFO ("Available AUTH mechanisms", "EHLO", ...): the door
# logs one line per transaction instead.
logging.getLogger("mail.log").setLevel(logging.WARNING)
logging.getLogger("asyncio").addFilter(AcceptErrorFilter())

# Descriptors the process needs besides SMTP connections (HTTP, database, files).
OTHER_DESCRIPTORS = 200


class SmtpDoor:
    """One listener: its handler, what its sessions share, and its certificate if any."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.handler = IngestHandler(services)
        smtp = services.settings.smtp
        self.state = DoorState(
            settings=smtp,
            connections=Connections(
                total=smtp.max_connections, per_client=smtp.max_connections_per_client
            ),
            buffers=ByteBudget(smtp.max_buffered_bytes),
            refusals=BurstLog(log, "SMTP connections refused, too many"),
        )
        self.certificate = (
            Certificate(Path(smtp.tls_cert), Path(smtp.tls_key))
            if smtp.tls_cert is not None and smtp.tls_key is not None
            else None
        )

    def protocol(self) -> DoorProtocol:
        settings = self.services.settings
        return DoorProtocol(
            self.handler,
            self.state,
            data_size_limit=settings.inbound.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.smtp.hostname,
            ident="Dispatch ESMTP",
            tls_context=None if self.certificate is None else self.certificate.context(),
        )

    async def start(self, sock: socket.socket | None = None) -> asyncio.Server:
        """Serve on the running event loop, on `sock` if given, else on the configured
        host and port."""
        _check_descriptors(self.services.settings.smtp.max_connections)
        loop = asyncio.get_running_loop()
        if sock is not None:
            return await loop.create_server(self.protocol, sock=sock)
        smtp = self.services.settings.smtp
        return await loop.create_server(self.protocol, host=smtp.host, port=smtp.port)


async def start_smtp_server(
    services: Services, *, sock: socket.socket | None = None
) -> asyncio.Server:
    """Serve SMTP on the running event loop, beside the API (so in-process wake-ups work),
    on `sock` if given, else on the configured host and port."""
    return await SmtpDoor(services).start(sock)


def _check_descriptors(max_connections: int) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and max_connections + OTHER_DESCRIPTORS > soft:
        log.warning(
            "DISPATCH_SMTP_MAX_CONNECTIONS=%d leaves too few of the %d open files this process "
            "may have (ulimit -n): raise the limit or lower the setting",
            max_connections,
            soft,
        )
