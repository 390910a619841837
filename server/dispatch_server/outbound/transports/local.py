"""The `local` transport, the dev default: mail to the server's own inbox domain, or to a
verified custom domain, goes straight into the ingest pipeline (so agent-to-agent mail,
memory and `wait_for_otp` work offline); mail to any other domain is recorded as sent and
logged, never relayed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection

from dispatch_server.core.errors import DomainError, QuotaExceeded
from dispatch_server.ingest.pipeline import Envelope, IngestResult, UnknownRecipient
from dispatch_server.outbound.transports import Accepted, DeliveryFailed, OutgoingMail

log = logging.getLogger("dispatch_server.outbound")

Ingest = Callable[[bytes, Envelope], Awaitable[IngestResult]]
# Which of these domains are verified custom domains (asked per send, so one verified a
# moment ago is local at once).
Verified = Callable[[Collection[str]], Awaitable[frozenset[str]]]


async def _none_verified(domains: Collection[str]) -> frozenset[str]:
    return frozenset()


class LocalTransport:
    name = "local"

    def __init__(self, domain: str, ingest: Ingest, verified: Verified = _none_verified) -> None:
        self._domain = domain.lower()
        self._ingest = ingest
        self._verified = verified

    async def deliver(self, mail: OutgoingMail) -> Accepted:
        domains = {r.rpartition("@")[2].lower() for r in mail.recipients} - {self._domain}
        ours = {self._domain, *(await self._verified(domains) if domains else ())}
        local = tuple(r for r in mail.recipients if r.rpartition("@")[2].lower() in ours)
        elsewhere = [r for r in mail.recipients if r not in local]
        if elsewhere:
            log.info(
                "outbound %s: not relayed to %s (DISPATCH_OUTBOUND_PROVIDER=local delivers "
                "only to @%s and verified custom domains)",
                mail.outbound_id,
                ", ".join(elsewhere),
                self._domain,
            )
        refused: tuple[str, ...] = ()
        if local:
            # The send's id is the dedupe key: a send handed over again arrives once.
            envelope = Envelope(
                recipients=local,
                mail_from=mail.sender,
                provider_message_id=f"dispatch-outbound-{mail.outbound_id}",
                door="local",
            )
            try:
                refused = (await self._ingest(mail.raw, envelope)).rejected
            except UnknownRecipient:
                refused = local
            except QuotaExceeded as exc:  # the receiving workspace's: as an MTA's 452
                raise DeliveryFailed(exc.message, permanent=False) from None
            except DomainError as exc:  # too large, unparseable: as an MTA's 554
                raise DeliveryFailed(exc.message, permanent=True) from None
        return Accepted(provider_message_id=None, refused=refused, delivered=not elsewhere)

    async def close(self) -> None:
        return None
