"""Transports: one per `DISPATCH_OUTBOUND_PROVIDER`, each handing one composed message to its
provider. A transport knows nothing of the database: the outbox gives it an `OutgoingMail`
and records the `Accepted` it returns, or the `DeliveryFailed` it raises.

`DeliveryFailed.permanent` decides what the outbox does: a permanent failure (an SMTP 5xx, an
SES `MessageRejected`) ends the send as `rejected`; a transient one (a timeout, a dropped
connection, an SMTP 4xx, SES throttling) is retried with backoff.
"""

from __future__ import annotations

from typing import Protocol

import attrs


@attrs.frozen
class OutgoingMail:
    """One message to hand over: the envelope and the bytes to send."""

    outbound_id: str  # the outbound_messages row, for logs and provider tags
    sender: str  # the envelope sender: the inbox's address
    recipients: tuple[str, ...]  # the envelope recipients: to, cc and bcc, domains in ASCII
    raw: bytes  # the composed message, CRLF lines, without a Bcc header
    message_id: str  # its Message-ID header, without the angle brackets


@attrs.frozen
class Accepted:
    """The provider took the message."""

    provider_message_id: str | None  # SES MessageId, an SMTP queue id when the relay says one
    # Recipients the provider refused while taking the rest (SMTP 5xx to one RCPT).
    refused: tuple[str, ...] = ()
    # The message has already arrived (the local transport into its own inboxes).
    delivered: bool = False


class DeliveryFailed(Exception):
    """The provider did not take the message."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Transport(Protocol):
    """Hands messages to one provider. Opened once per process, closed at shutdown."""

    name: str  # "local" | "smtp" | "ses"

    async def deliver(self, mail: OutgoingMail) -> Accepted:
        """Hand `mail` over; raise DeliveryFailed if the provider does not take it."""
        ...

    async def close(self) -> None: ...
