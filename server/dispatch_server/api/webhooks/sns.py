"""The SNS door: POST /v1/webhooks/sns, the HTTPS subscription of the SNS topics SES publishes
to: a configuration set's sending events (delivery feedback), and receipt notifications of
mail SES received for us (an inbound door).

Nothing is acted on before the message is proven to come from SNS for an allowed topic (see
dispatch_server.outbound.feedback.sns), one verifier for both kinds: a forged, unsigned or
tampered message is a 403 and changes nothing. Then a SubscriptionConfirmation is confirmed,
an UnsubscribeConfirmation logged, a Notification's SES event applied once per SNS
MessageId, and an SES receipt notification's mail (inline, or in S3) ingested like the
worker's, with SES's message id as the provider id (see dispatch_server.ingest.doors.ses).
Authentic messages that carry nothing this server uses get a 200, so SNS stops delivering
them; so does received mail that cannot be stored (recorded and dropped: `refused`).
"""

from __future__ import annotations

import logging
from typing import Literal

import attrs

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.domain import deliveries
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.params import body_too_large, read_body
from dispatch_server.http.shapes import field
from dispatch_server.ingest.doors import ses
from dispatch_server.ingest.doors.s3 import ObjectCreated, ObjectUnavailable, location
from dispatch_server.ingest.pipeline import Door, Envelope
from dispatch_server.mail.verdicts import from_ses
from dispatch_server.outbound.feedback import sns
from dispatch_server.outbound.feedback.ses_events import parse_ses_event
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server.outbound")

DOOR: Door = "ses_sns"
Outcome = Literal["stored", "duplicate", "refused", "ignored", "confirmed", "unsubscribed"]


class SnsDisabled(DomainError):
    code = ErrorCode.SNS_WEBHOOK_DISABLED


class SnsMessageRefused(DomainError):
    code = ErrorCode.SNS_MESSAGE_REFUSED


class SnsCertificateUnavailable(DomainError):
    code = ErrorCode.SNS_CERTIFICATE_UNAVAILABLE


class InboundObjectUnavailable(DomainError):
    code = ErrorCode.INBOUND_OBJECT_UNAVAILABLE


@attrs.frozen(kw_only=True)
class SnsAnswer:
    outcome: Outcome = field(
        description="`stored`, `duplicate` (that SNS MessageId was applied before, or that "
        "received mail is stored already), `refused` (received mail that cannot be stored: "
        "recorded and dropped), `ignored` (an event this server does not use), `confirmed` "
        "(the subscription), `unsubscribed`"
    )


def _refusal(refused: sns.SnsRefused) -> DomainError:
    if refused.retryable:
        return SnsCertificateUnavailable(refused.reason)
    return SnsMessageRefused(refused.reason)


async def sns_webhook(call: Call[None]) -> SnsAnswer:
    checks = call.services.sns
    if checks is None:
        raise SnsDisabled("set DISPATCH_SNS_TOPIC_ARNS to enable it")
    limit = sns.MAX_SNS_BODY
    raw = await read_body(call.request, limit=limit, too_large=body_too_large(limit))
    try:
        message = sns.parse_sns(raw)
        await checks.verifier.verify(message)
        if message.type == sns.SUBSCRIPTION_CONFIRMATION:
            await sns.confirm_subscription(message, checks.fetch_subscribe_url)
            log.info("SNS: confirmed the subscription to %s", message.topic_arn)
            return SnsAnswer(outcome="confirmed")
    except sns.SnsRefused as refused:
        log.info("SNS: refused a message: %s", refused.reason)
        raise _refusal(refused) from None
    if message.type == sns.UNSUBSCRIBE_CONFIRMATION:
        log.warning("SNS: the subscription to %s was ended", message.topic_arn)
        return SnsAnswer(outcome="unsubscribed")
    event = parse_ses_event(message.message)
    if event is not None:
        outcome = await call.services.db.run_write(
            deliveries.apply_feedback, event, feedback_id=message.message_id, now=utcnow()
        )
        return SnsAnswer(outcome=outcome)
    receipt = ses.parse_receipt(message.message)
    if receipt is not None:
        return SnsAnswer(outcome=await _received(call.services, receipt))
    return SnsAnswer(outcome="ignored")


async def _received(services: Services, receipt: ses.SesReceipt) -> ses.Outcome:
    """Ingest the mail of an SES receipt notification: inline, or from the inbound bucket."""
    raw, where = receipt.content, None
    if raw is None:
        assert receipt.bucket is not None and receipt.key is not None
        stored_at = ObjectCreated(receipt.bucket, receipt.key, size=None, event_name="SES")
        where = location(receipt.bucket, receipt.key)
        try:
            raw = await ses.fetch_stored(
                services,
                services.inbound_bucket,
                stored_at,
                message_id=receipt.message_id,
                door=DOOR,
                recipients=receipt.recipients,
            )
        except ObjectUnavailable as unavailable:
            log.warning("SNS: SES mail %s not read: %s", receipt.message_id, unavailable)
            raise InboundObjectUnavailable(str(unavailable)) from None
        if raw is None:
            return "refused"
    envelope = Envelope(
        recipients=receipt.recipients[: services.settings.inbound.max_recipients],
        mail_from=receipt.mail_from,
        provider_message_id=receipt.message_id,
        verdicts=from_ses(receipt.receipt, raw),
        door=DOOR,
        keep_unparseable=True,
    )
    return await ses.receive(services, raw, envelope, location=where)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/webhooks/sns",
        handler=sns_webhook,
        summary="SES through SNS: delivery feedback, and receipt notifications of mail received",
        description="SNS signs what it posts; messages are verified before anything is done.",
        scope=None,
        response=SnsAnswer,
        rate_limit=Policy.WEBHOOK,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
]
