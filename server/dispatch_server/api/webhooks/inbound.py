"""The dev inbound door: POST /v1/webhooks/inbound, guarded by x-dispatch-inbound-token.

It takes a raw message (`message/rfc822`, recipients from `?to=` or its To/Cc headers) or
a JSON description of one, and runs it through the same ingest pipeline as the SMTP door.
At most DISPATCH_MAX_RECIPIENTS recipients either way (400 naming `to`, or `headers` for
the JSON form's To/Cc/Bcc headers). Reading a large message's headers, or composing a
large one, happens off the event loop, like ingest's parse.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Callable
from typing import TypeVar

import attrs
from starlette.requests import Request

from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, Unauthorized
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.params import json_object, read_body
from dispatch_server.http.shapes import SchemaRegistry, field, from_json
from dispatch_server.ingest.pipeline import (
    INLINE_PARSE_BYTES,
    Envelope,
    MessageTooLarge,
    UnparseableMessage,
    ingest,
)
from dispatch_server.mail.addresses import (
    UnreadableAddresses,
    check_recipient_count,
    header_recipients,
)
from dispatch_server.mail.compose import compose
from dispatch_server.mail.verdicts import Verdicts
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.services import Services

T = TypeVar("T")
TOKEN_HEADER = "x-dispatch-inbound-token"
DEFAULT_SENDER = "sender@example.com"


class InboundDisabled(DomainError):
    code = ErrorCode.INBOUND_WEBHOOK_DISABLED


@attrs.frozen(kw_only=True)
class InboundMessage:
    """A message described as JSON; the server composes the MIME."""

    to: str | tuple[str, ...] = field(description="an address, or a non-empty list of them")
    from_: str | None = field(name="from", default=None)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(
        factory=dict,
        description="extra headers; a given Message-ID, Date or To replaces the default",
    )
    spam: bool = field(default=False, description="deliver as if the provider flagged spam")


@attrs.frozen(kw_only=True)
class Delivery:
    inbox_id: str
    message_id: str
    duplicate: bool
    folder: str


@attrs.frozen(kw_only=True)
class Deliveries:
    deliveries: tuple[Delivery, ...]
    rejected: tuple[str, ...] = field(description="recipients that are no inbox here")


def check_token(expected: str | None, given: str | None) -> None:
    if not expected:
        raise InboundDisabled("set DISPATCH_INBOUND_TOKEN to enable it")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(f"missing or wrong {TOKEN_HEADER}")


async def inbound_webhook(call: Call[None]) -> Deliveries:
    services, request = call.services, call.request
    check_token(services.settings.inbound.token, request.headers.get(TOKEN_HEADER))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "message/rfc822":
        raw, envelope = await _raw_message(request, services)
    else:
        raw, envelope = await _described_message(request, services)
    if not envelope.recipients:
        raise InvalidInput("no recipients: give ?to= or To/Cc headers", param="to")
    result = await ingest(services, raw, envelope)
    return Deliveries(
        deliveries=tuple(
            Delivery(
                inbox_id=d.inbox_id,
                message_id=d.message_id,
                duplicate=d.duplicate,
                folder=d.folder,
            )
            for d in result.deliveries
        ),
        rejected=result.rejected,
    )


def _too_large(limit: int) -> MessageTooLarge:
    return MessageTooLarge(f"the request body is limited to {limit} bytes")


async def _raw_message(request: Request, services: Services) -> tuple[bytes, Envelope]:
    limit = services.settings.inbound.max_message_bytes
    raw = await read_body(request, limit=limit, too_large=_too_large(limit))
    recipients = tuple(request.query_params.getlist("to"))
    if not recipients:
        try:
            recipients = await _off_loop_if(len(raw), header_recipients, raw)
        except UnreadableAddresses as exc:
            raise UnparseableMessage(str(exc)) from None
    check_recipient_count(len(recipients), services.settings.inbound.max_recipients, "to")
    envelope = Envelope(
        recipients=recipients,
        mail_from=request.query_params.get("mail_from"),
        verdicts=Verdicts(source="webhook"),
        door="webhook",
    )
    return raw, envelope


async def _described_message(request: Request, services: Services) -> tuple[bytes, Envelope]:
    # JSON escaping can double a message's size; ingest then applies the exact limit.
    limit = 2 * services.settings.inbound.max_message_bytes
    body = await json_object(request, allow_empty=False, limit=limit, too_large=_too_large(limit))
    return await described(services, from_json(InboundMessage, body))


async def described(services: Services, message: InboundMessage) -> tuple[bytes, Envelope]:
    """The MIME of a message described as JSON, and its envelope (the webhook's JSON form
    and the console's dev injector)."""
    recipients = (message.to,) if isinstance(message.to, str) else message.to
    if not recipients or not all("@" in r for r in recipients):
        raise InvalidInput("to must be an address or a non-empty list of addresses", param="to")
    if not message.text and not message.html:
        raise InvalidInput("give text or html", param="text")
    size = sum(map(len, (message.text or "", message.html or "", message.subject or "")))
    size += sum(len(name) + len(value) for name, value in message.headers.items())
    raw = await _off_loop_if(
        size + sum(map(len, recipients)),
        functools.partial(
            compose,
            sender=message.from_ or DEFAULT_SENDER,
            to=recipients,
            subject=message.subject or "",
            text=message.text,
            html=message.html,
            headers=message.headers,
            message_id_domain="inbound.dispatch.localhost",
            max_recipients=services.settings.inbound.max_recipients,
        ),
    )
    envelope = Envelope(
        recipients=recipients,
        mail_from=message.from_,
        verdicts=Verdicts(spam="fail" if message.spam else None, source="webhook"),
        door="webhook",
    )
    return raw, envelope


async def _off_loop_if(size: int, work: Callable[..., T], *args: object) -> T:
    """`work(*args)`, in a thread when `size` is past what is quicker done inline."""
    if size <= INLINE_PARSE_BYTES:
        return work(*args)
    return await asyncio.to_thread(work, *args)


_BODY_SCHEMA = SchemaRegistry().object(InboundMessage)

ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/webhooks/inbound",
        handler=inbound_webhook,
        summary=f"Dev inbound door ({TOKEN_HEADER})",
        scope=None,
        response=Deliveries,
        status=201,
        rate_limit=Policy.WEBHOOK,
        openapi_extra={
            "security": [{"inboundToken": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _BODY_SCHEMA},
                    "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
                },
            },
        },
    )
]
