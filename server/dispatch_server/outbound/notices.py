"""Notices: mail the server itself sends (an operator's verification code, the onboarding
mail), from its system inbox through the same path as every send: composed, queued with its
quotas, handed to the configured provider. With the `local` provider a notice to an inbox of
this server lands in it, so `wait_for_otp` reads a verification code in development.

Notices are best-effort: `send_notice` logs a failure and returns False, never raises, so
what asked for the notice (a signup) succeeds without it.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import Conflict
from dispatch_server.domain import sends
from dispatch_server.domain.system_inbox import system_sender
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server.notices")


def notice_address(services: Services) -> str:
    settings = services.settings
    return f"{settings.operators.mail_local_part}@{settings.inboxes.domain}"


async def _sender(services: Services) -> sends.Sender:
    address = notice_address(services)
    try:
        return await services.db.run_write(system_sender, address=address, now=utcnow())
    except sa.exc.IntegrityError:  # another request made it meanwhile
        return await services.db.run_write(system_sender, address=address, now=utcnow())


async def send_notice(services: Services, *, to: str, subject: str, text: str) -> bool:
    """Queue and hand over one notice; whether the provider took it."""
    db, outbound = services.db, services.settings.outbound
    try:
        sender = await _sender(services)
        draft = sends.draft(
            sender,
            sends.SendFields(to=(to,), subject=subject, text=text),
            None,
            max_recipients=1,
            max_attachment_bytes=0,
        )
        send_limit, recipient_limit = outbound.daily_limits(sender.plan)
        queued = await db.run_write(
            sends.queue,
            draft,
            provider=outbound.provider,
            now=utcnow(),
            send_limit=send_limit,
            recipient_limit=recipient_limit,
        )
        await services.outbox.hand_over(queued.id)
        sent = await db.run_read(sends.get_sent, sender.inbox_id, queued.id)
    except Conflict as exc:
        log.error("notice %r to %s not sent: %s", subject, to, exc.message)
        return False
    except Exception:
        log.exception("notice %r to %s not sent", subject, to)
        return False
    if sent.status in ("sent", "delivered"):
        return True
    log.warning("notice %r to %s: %s", subject, to, sent.status)
    return False
