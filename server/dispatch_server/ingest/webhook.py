"""The dev door: POST /v1/webhooks/inbound, guarded by x-dispatch-inbound-token."""

from __future__ import annotations

import hmac
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dispatch_server.errors import ApiError, bad_request, unauthorized
from dispatch_server.http import context, json_body, json_response, read_body
from dispatch_server.ingest.pipeline import Envelope, IngestRejected, ingest
from dispatch_server.ingest.security import Verdicts


def check_inbound_token(expected: str | None, given: str | None) -> None:
    if not expected:
        raise ApiError(503, "inbound_webhook_disabled", "set DISPATCH_INBOUND_TOKEN to enable it")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise unauthorized("missing or wrong x-dispatch-inbound-token")


async def inbound_webhook(request: Request) -> Response:
    ctx = context(request)
    check_inbound_token(ctx.settings.inbound_token, request.headers.get("x-dispatch-inbound-token"))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "message/rfc822":
        raw = await read_body(
            request, limit=ctx.settings.max_message_bytes, code="message_too_large"
        )
        recipients = tuple(request.query_params.getlist("to"))
        envelope = Envelope(recipients=recipients, mail_from=request.query_params.get("mail_from"))
        if not recipients:
            envelope = Envelope(recipients=_header_recipients(raw), mail_from=envelope.mail_from)
    else:
        # JSON escaping can double a message's size; ingest then applies the exact limit.
        body = await json_body(
            request,
            allow_empty=False,
            limit=2 * ctx.settings.max_message_bytes,
            too_large_code="message_too_large",
        )
        raw, envelope = normalized_to_mime(body)
    if not envelope.recipients:
        raise bad_request("no recipients: give ?to= or To/Cc headers")
    try:
        result = await ingest(ctx.db, ctx.hub, ctx.settings, raw, envelope)
    except IngestRejected as exc:
        raise ApiError(exc.http_status, exc.code, exc.message) from None
    return json_response(
        {
            "deliveries": [
                {
                    "inbox_id": d.inbox_id,
                    "message_id": d.message_id,
                    "duplicate": d.duplicate,
                    "folder": d.folder,
                }
                for d in result.deliveries
            ],
            "rejected": list(result.rejected),
        },
        status=201,
    )


def _header_recipients(raw: bytes) -> tuple[str, ...]:
    from email import message_from_bytes
    from email.utils import getaddresses

    headers = message_from_bytes(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    values = [str(v) for name in ("to", "cc") for v in headers.get_all(name, [])]
    return tuple(addr for _, addr in getaddresses(values) if "@" in addr)


_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322: printable ASCII except ":"
_BODY_HEADERS = {"content-type", "content-transfer-encoding", "mime-version"}


def _check_header_name(name: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise bad_request(f"header name {name!r} is not a valid field name")
    if name.lower() in _BODY_HEADERS:
        raise bad_request(f"header {name!r} is set from text and html")


def _set_header(message: EmailMessage, name: str, value: str) -> None:
    try:
        message[name] = value
    except (ValueError, TypeError, IndexError) as exc:  # line breaks, bad names, bad syntax
        raise bad_request(f"header {name!r}: {exc}") from None


def normalized_to_mime(body: dict[str, Any]) -> tuple[bytes, Envelope]:
    """Build an RFC 5322 message from the webhook's normalised JSON form."""
    to = body.get("to")
    recipients = [to] if isinstance(to, str) else to
    if (
        not isinstance(recipients, list)
        or not recipients
        or not all(isinstance(r, str) and "@" in r for r in recipients)
    ):
        raise bad_request("to must be an address or a non-empty list of addresses")
    fields: dict[str, str | None] = {}
    for name in ("from", "subject", "text", "html"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"{name} must be a string")
        fields[name] = value
    if not fields["text"] and not fields["html"]:
        raise bad_request("give text or html")
    headers = body.get("headers")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise bad_request("headers must be an object of strings")
    spam = body.get("spam", False)
    if not isinstance(spam, bool):
        raise bad_request("spam must be a boolean")

    message = EmailMessage()
    _set_header(message, "From", fields["from"] or "sender@example.com")
    _set_header(message, "To", ", ".join(recipients))
    _set_header(message, "Subject", fields["subject"] or "")
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="inbound.dispatch.localhost")
    for name, value in headers.items():
        _check_header_name(name)
        del message[name]  # a given Message-ID, Date or To replaces the default one
        _set_header(message, name, value)
    if fields["text"]:
        message.set_content(fields["text"])
    if fields["html"]:
        if fields["text"]:
            message.add_alternative(fields["html"], subtype="html")
        else:
            message.set_content(fields["html"], subtype="html")
    envelope = Envelope(
        recipients=tuple(recipients),
        mail_from=fields["from"],
        verdicts=Verdicts(spam="FAIL" if spam else None),
    )
    return message.as_bytes(), envelope
