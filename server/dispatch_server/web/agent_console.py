"""The console's work for the active agent: its inboxes (create, keys), the latest OTP,
sending mail, the dev inbound injector, its custom domains (add, check), and the way to pay
when the billing gate refuses an inbox.

Each action calls what the API's route calls, with the agent's principal (see `acting`):
the same validation, quotas, billing gate and send path. What the page shows comes back as
an `Outcome`; an action that changed something answers with where to go next (POST, then
redirect, then GET), so reloading the page does not do it again.
"""

from __future__ import annotations

from typing import Any

import attrs
from starlette.requests import Request

from dispatch_server.api import billing
from dispatch_server.api.domains import add_domain, check_domain
from dispatch_server.api.sends import send_from
from dispatch_server.api.webhooks.inbound import InboundMessage, described
from dispatch_server.billing.products import MULTI_INBOX
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, InvalidInput, NotFound, UpgradeRequired
from dispatch_server.core.ids import is_id
from dispatch_server.core.pagination import Page
from dispatch_server.domain import domains, form_nonces, inbox_keys, inboxes, messages, sends
from dispatch_server.ingest.pipeline import ingest
from dispatch_server.services import Services
from dispatch_server.web.acting import Acting, inbox
from dispatch_server.web.common import text_field

MAX_LISTED_INBOXES = 100
MAX_DISPLAY_NAME = 200
MAX_SUBJECT = 998


@attrs.frozen(kw_only=True)
class Rail:
    """An on-chain way to pay, as the 402's x402 `accepts` entry says."""

    network: str
    pay_to: str
    asset: str
    amount: str  # in the token's base units
    amount_display: str
    reference: str
    quote_id: str
    expires_at: str


@attrs.frozen(kw_only=True)
class Upgrade:
    """Why the gate refused, and how to pay."""

    message: str
    product: str
    price: str  # "9.00 USD"
    usdc: str
    stripe: bool
    rails: tuple[Rail, ...]


@attrs.frozen(kw_only=True)
class Outcome:
    notice: str | None = None
    redirect_to: str | None = None
    minted_key: str | None = None  # shown once
    upgrade: Upgrade | None = None
    checkout_url: str | None = None


def inject_enabled(services: Services) -> bool:
    """The dev injector is there when the dev inbound door is (DISPATCH_INBOUND_TOKEN)."""
    return bool(services.settings.inbound.token)


async def listed_inboxes(services: Services, acting: Acting) -> Page[inboxes.Inbox]:
    return await services.db.run_read(
        inboxes.list_inboxes,
        acting.principal.workspace_id,
        limit=MAX_LISTED_INBOXES,
        cursor=None,
    )


async def listed_domains(services: Services, acting: Acting) -> Page[domains.Domain]:
    return await services.db.run_read(
        domains.list_domains, acting.principal.workspace_id, limit=MAX_LISTED_INBOXES, cursor=None
    )


async def _domain(services: Services, acting: Acting, domain_id: str) -> domains.Domain:
    if not is_id(domain_id):
        raise NotFound("domain")
    return await services.db.run_read(domains.get, acting.principal.workspace_id, domain_id)


async def inbox_keys_of(
    services: Services, acting: Acting, inbox_id: str
) -> list[inbox_keys.InboxKey]:
    found = await services.db.run_read(
        inbox_keys.list_inbox_keys,
        acting.principal.workspace_id,
        inbox_id,
        limit=MAX_LISTED_INBOXES,
        cursor=None,
    )
    return list(found.items)


async def latest_otp(services: Services, acting: Acting, inbox_id: str) -> messages.Otp | None:
    await inbox(services, acting, inbox_id)
    cutoff = messages.retention_cutoff(services.settings.storage.message_retention_days)
    return await services.db.run_read(messages.latest_otp, inbox_id, cutoff=cutoff)


async def done_notice(services: Services, acting: Acting, query: dict[str, str]) -> str | None:
    """The notice after a redirect, from the ids in its query (nothing the URL says is
    shown as given: each id is looked up in the agent's workspace)."""
    if "already_sent" in query:
        return "this mail was already sent: it was not sent again"
    try:
        if "created" in query:
            created = await inbox(services, acting, query["created"])
            return f"created the inbox {created.address}"
        if "sent" in query and "inbox" in query:
            sender = await inbox(services, acting, query["inbox"])
            sent_id = query["sent"]
            if not is_id(sent_id):
                return None
            sent = await services.db.run_read(sends.get_sent, sender.id, sent_id)
            return f"mail to {', '.join(sent.to_addresses)} is {sent.status}"
        if "injected" in query and "inbox" in query:
            target = await inbox(services, acting, query["inbox"])
            return f"delivered a test message to {target.address}"
        if "domain_added" in query:
            added = await _domain(services, acting, query["domain_added"])
            return f"added {added.unicode_name}: publish its records, then check them"
        if "domain_checked" in query:
            checked = await _domain(services, acting, query["domain_checked"])
            return f"checked {checked.unicode_name}: it is {checked.status}"
    except NotFound:
        return None
    return None


async def act(
    request: Request, services: Services, acting: Acting, action: str, form: dict[str, str]
) -> Outcome | None:
    """Do the form's action; None for an action that is not one of these."""
    if action == "create_inbox":
        return await _create_inbox(request, services, acting, form)
    if action == "mint_key":
        target = await inbox(services, acting, text_field(form, "inbox_id"))
        label = _bounded(form, "label", MAX_DISPLAY_NAME)
        minted = await services.db.run_write(
            inbox_keys.mint_inbox_key,
            workspace_id=acting.principal.workspace_id,
            inbox_id=target.id,
            label=label,
        )
        return Outcome(notice=f"new key for {target.address}", minted_key=minted.raw)
    if action == "revoke_key":
        target = await inbox(services, acting, text_field(form, "inbox_id"))
        revoked = await services.db.run_write(
            inbox_keys.revoke_inbox_key,
            acting.principal.workspace_id,
            target.id,
            text_field(form, "key_id"),
        )
        services.hub.keys.revoked(revoked.id)
        return Outcome(redirect_to=f"/console?keys={target.id}#keys")
    if action == "send":
        return await _send(services, acting, form)
    if action == "inject":
        return await _inject(services, acting, form)
    if action == "add_domain":
        name = _bounded(form, "domain_name", domains.MAX_NAME_CHARS + 1) or ""
        added = await add_domain(services, acting.principal.workspace_id, name)
        return Outcome(redirect_to=f"/console?domain_added={added.id}#domains")
    if action == "verify_domain":
        wanted = await _domain(services, acting, text_field(form, "domain_id"))
        checked = await check_domain(services, acting.principal.workspace_id, wanted.id)
        return Outcome(redirect_to=f"/console?domain_checked={checked.id}#domains")
    if action == "checkout":
        session = await billing.start_checkout(
            services, acting.principal, MULTI_INBOX, idempotency_key=None
        )
        return Outcome(checkout_url=session.url)
    return None


async def _create_inbox(
    request: Request, services: Services, acting: Acting, form: dict[str, str]
) -> Outcome:
    settings = services.settings.inboxes
    try:
        created = await services.db.run_write(
            inboxes.create_inbox,
            workspace_id=acting.principal.workspace_id,
            agent_id=acting.principal.agent_id,
            domain=settings.domain,
            local_part=text_field(form, "local_part").strip() or None,
            display_name=_bounded(form, "display_name", MAX_DISPLAY_NAME),
            enforce_multi_inbox_upgrade=settings.enforce_multi_inbox_upgrade,
            custom_domain=text_field(form, "domain").strip() or None,
        )
    except UpgradeRequired as refused:
        offered = await billing.upgrade_offer(
            services,
            acting.principal.workspace_id,
            refused,
            resource=str(request.url.replace(query="")),
        )
        return Outcome(upgrade=_upgrade(offered))
    return Outcome(redirect_to=f"/console?created={created.id}")


def _upgrade(refused: UpgradeRequired) -> Upgrade:
    offer: dict[str, Any] = refused.offer or {}
    product = offer["upgrade"]["product"]
    rails = tuple(
        Rail(
            network=entry["network"],
            pay_to=entry["payTo"],
            asset=entry["asset"],
            amount=entry["maxAmountRequired"],
            amount_display=product["usdc_display"],
            reference=entry["extra"]["reference"],
            quote_id=entry["extra"]["quote_id"],
            expires_at=str(entry["extra"]["expires_at"])[:19].replace("T", " ") + " UTC",
        )
        for entry in offer.get("accepts", [])
    )
    cents = int(product["price_cents"])
    return Upgrade(
        message=refused.message,
        product=product["name"],
        price=f"{cents // 100}.{cents % 100:02d} {str(product['currency']).upper()}",
        usdc=product["usdc_display"],
        stripe=bool(offer["upgrade"]["stripe"]["available"]),
        rails=rails,
    )


def _bounded(form: dict[str, str], name: str, chars: int) -> str | None:
    value = text_field(form, name).strip()
    if len(value) > chars:
        raise InvalidInput(f"{name} is at most {chars} characters", param=name)
    return value or None


def _addresses(form: dict[str, str], name: str) -> tuple[str, ...]:
    """Addresses typed into one field, separated by commas or new lines."""
    raw = text_field(form, name).replace("\n", ",")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


async def _send(services: Services, acting: Acting, form: dict[str, str]) -> Outcome:
    """Send once per rendered form: its nonce is used up before the send, and given back
    when the send is refused (nothing was queued)."""
    sender = await inbox(services, acting, text_field(form, "inbox_id"))
    to = _addresses(form, "to")
    if not to:
        raise InvalidInput("give at least one recipient", param="to")
    fields = sends.SendFields(
        to=to,
        cc=_addresses(form, "cc"),
        subject=_bounded(form, "subject", MAX_SUBJECT) or "",
        text=text_field(form, "text") or None,
    )
    nonce, operator_id = text_field(form, "nonce"), acting.operator.id
    if not form_nonces.is_nonce(nonce):
        raise InvalidInput("the form is incomplete: reload the page", param="nonce")
    if not await services.db.run_write(form_nonces.use, nonce, operator_id, now=utcnow()):
        return Outcome(redirect_to="/console?already_sent=1")
    try:
        sent = await send_from(services, acting.principal, sender.id, fields)
    except DomainError:
        await services.db.run_write(form_nonces.give_back, nonce, operator_id)
        raise
    return Outcome(redirect_to=f"/console?sent={sent.id}&inbox={sender.id}")


async def _inject(services: Services, acting: Acting, form: dict[str, str]) -> Outcome:
    if not inject_enabled(services):
        raise NotFound("the dev inbound injector (set DISPATCH_INBOUND_TOKEN)")
    target = await inbox(services, acting, text_field(form, "inbox_id"))
    message = InboundMessage(
        to=target.address,
        from_=text_field(form, "from").strip() or None,
        subject=_bounded(form, "subject", MAX_SUBJECT),
        text=text_field(form, "text") or None,
        html=text_field(form, "html") or None,
    )
    raw, envelope = await described(services, message)
    await ingest(services, raw, envelope)
    return Outcome(redirect_to=f"/console?injected=1&inbox={target.id}")
