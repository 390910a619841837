"""The delivery-feedback door: POST /v1/webhooks/sns, the HTTPS subscription of the SNS topic
an SES configuration set publishes its events to.

Nothing is acted on before the message is proven to come from SNS for an allowed topic (see
dispatch_server.outbound.feedback.sns): a forged, unsigned or tampered message is a 403
and changes nothing. Then a SubscriptionConfirmation is confirmed, an
UnsubscribeConfirmation logged, and a Notification's SES event applied once per SNS
MessageId. Authentic messages that carry nothing this server uses get a 200, so SNS stops
delivering them.
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
from dispatch_server.outbound.feedback import sns
from dispatch_server.outbound.feedback.ses_events import parse_ses_event

log = logging.getLogger("dispatch_server.outbound")

Outcome = Literal["stored", "duplicate", "ignored", "confirmed", "unsubscribed"]


class SnsDisabled(DomainError):
    code = ErrorCode.SNS_WEBHOOK_DISABLED


class SnsMessageRefused(DomainError):
    code = ErrorCode.SNS_MESSAGE_REFUSED


class SnsCertificateUnavailable(DomainError):
    code = ErrorCode.SNS_CERTIFICATE_UNAVAILABLE


@attrs.frozen(kw_only=True)
class SnsAnswer:
    outcome: Outcome = field(
        description="`stored`, `duplicate` (that SNS MessageId was applied before), `ignored` "
        "(an event this server does not use), `confirmed` (the subscription), `unsubscribed`"
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
    if event is None:
        return SnsAnswer(outcome="ignored")
    outcome = await call.services.db.run_write(
        deliveries.apply_feedback, event, feedback_id=message.message_id, now=utcnow()
    )
    return SnsAnswer(outcome=outcome)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/webhooks/sns",
        handler=sns_webhook,
        summary="Delivery feedback: SES events through an SNS subscription",
        description="SNS signs what it posts; messages are verified before anything is done.",
        scope=None,
        response=SnsAnswer,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
]
