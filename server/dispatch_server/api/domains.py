"""Custom domains (`/v1/domains`, account key): add a domain, read the DNS records to publish
for it, check them, delete it. What verification means is dispatch_server.domain.domains;
the lookups are domain_dns's; inboxes are created at a verified domain by `POST /v1/inboxes`
with `domain`."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.auth.principal import Scope
from dispatch_server.config import Settings
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.domain import domains
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project
from dispatch_server.outbound.ses_identities import SesUnavailable
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.services import Services

CURSOR = params.page_cursor("domain")


@attrs.frozen(kw_only=True)
class DomainRecord:
    """A DNS record to publish at the domain's DNS host, and its last check."""

    purpose: domains.Purpose = field(
        description="`ownership` and `receiving` are required for `verified`; `sending` "
        "(SPF, DKIM, DMARC) for mail from the domain to be trusted"
    )
    type: domains.RecordType
    name: str = field(description="the full name the record is at")
    value: str = field(description="the record's value (MX: the host; the priority apart)")
    priority: int | None = field(description="MX only")
    status: domains.RecordStatus = field(
        description="`pending`: not checked yet; `ok`; `missing`; `mismatch`: another value; "
        "`unavailable`: DNS did not answer (a timeout, SERVFAIL), check again later"
    )
    reason: str | None = field(description="why it is not `ok`, or a remark")
    checked_at: datetime | None

    @classmethod
    def of(cls, record: domains.Record) -> DomainRecord:
        return project(cls, record)


@attrs.frozen(kw_only=True)
class Domain:
    """A custom domain of the workspace: inboxes can be created at it once `verified`."""

    id: str
    name: str = field(description="lower case, international names in punycode")
    unicode_name: str = field(description="the name as people read it")
    status: domains.Status = field(
        description="`pending` until the ownership TXT and the MX record check out, then "
        "`verified` for good"
    )
    sending_ready: bool = field(description="SPF, DKIM and DMARC all checked out last time")
    records: tuple[DomainRecord, ...]
    created_at: datetime
    checked_at: datetime | None
    verified_at: datetime | None

    @classmethod
    def of(cls, domain: domains.Domain) -> Domain:
        return project(
            cls, domain, records=tuple(DomainRecord.of(record) for record in domain.records)
        )


@attrs.frozen(kw_only=True)
class CreateDomain:
    name: str = field(
        maxLength=domains.MAX_NAME_CHARS + 1,
        description="a domain you control, such as `mail.example.com`; any case, Unicode or "
        "punycode",
    )


def mx_host(settings: Settings) -> str:
    return settings.inboxes.mx_host or settings.smtp.hostname.lower()


def own_domains(settings: Settings) -> tuple[str, ...]:
    """The service's own names: no workspace may add them, or names under or above them."""
    return (settings.inboxes.domain, settings.smtp.hostname, mx_host(settings))


async def add_domain(services: Services, workspace_id: str, raw_name: str) -> domains.Domain:
    """Add a domain as `POST /v1/domains` does (the console too): its name checked, then the
    row written. Nothing is asked of SES before the domain is verified (`check_domain`)."""
    settings = services.settings
    name = domains.normalize_name(
        raw_name, own=own_domains(settings), ses=services.ses_identities is not None
    )
    await services.db.run_read(domains.check_addable, workspace_id, name)
    include = settings.inboxes.spf_include or (
        domains.SES_SPF_INCLUDE if settings.outbound.provider == "ses" else None
    )
    plan = domains.Plan(mx_host=mx_host(settings), spf_include=include)
    return await services.db.run_write(
        domains.add, workspace_id, name=name, plan=plan, now=utcnow()
    )


async def check_domain(services: Services, workspace_id: str, domain_id: str) -> domains.Domain:
    """Check a domain's records in DNS now and store what was found (`.../verify`); with the
    `ses` provider, a verified domain's Easy DKIM CNAMEs are then asked of SES, once."""
    domain = await services.db.run_read(domains.get, workspace_id, domain_id)
    results = await services.domain_checks.check(domain.records, workspace_id=workspace_id)
    domain = await services.db.run_write(
        domains.record_check, workspace_id, domain.id, results, now=utcnow()
    )
    ses = services.ses_identities
    if ses is None or not domains.needs_dkim(domain):
        return domain
    try:
        tokens, created = await ses.easy_dkim(domain.name)
    except SesUnavailable as exc:
        raise DomainError(
            f"{domain.name} is verified, but SES did not answer for its Easy DKIM records "
            f"({exc}): verify again to get them",
            code=ErrorCode.DOMAIN_PROVIDER_UNAVAILABLE,
        ) from None
    return await services.db.run_write(
        domains.add_dkim, workspace_id, domain.id, tokens, created=created
    )


async def create_domain(call: Call[CreateDomain]) -> Domain:
    return Domain.of(await add_domain(call.services, call.principal.workspace_id, call.body.name))


async def list_domains(call: Call[None]) -> Page[Domain]:
    found = await call.services.db.run_read(
        domains.list_domains,
        call.principal.workspace_id,
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
    )
    return Page.of(found, Domain.of)


async def get_domain(call: Call[None]) -> Domain:
    domain = await call.services.db.run_read(
        domains.get, call.principal.workspace_id, call.path("domain_id")
    )
    return Domain.of(domain)


async def verify_domain(call: Call[None]) -> Domain:
    return Domain.of(
        await check_domain(call.services, call.principal.workspace_id, call.path("domain_id"))
    )


async def delete_domain(call: Call[None]) -> Domain:
    services = call.services
    deleted = await services.db.run_write(
        domains.delete, call.principal.workspace_id, call.path("domain_id")
    )
    if deleted.delete_ses_identity and services.ses_identities is not None:
        await services.ses_identities.delete(deleted.domain.name)
    return Domain.of(deleted.domain)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/domains",
        handler=create_domain,
        summary="Add a custom domain: the answer lists the DNS records to publish",
        scope=Scope.ACCOUNT,
        rate_limit=Policy.DOMAINS,
        body=CreateDomain,
        response=Domain,
        status=201,
    ),
    Endpoint(
        method="GET",
        path="/v1/domains",
        handler=list_domains,
        summary="List the workspace's custom domains, oldest first",
        scope=Scope.ACCOUNT,
        response=Page[Domain],
        query=(params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="GET",
        path="/v1/domains/{domain_id}",
        handler=get_domain,
        summary="Get a custom domain, with its records and their last check",
        scope=Scope.ACCOUNT,
        response=Domain,
    ),
    Endpoint(
        method="POST",
        path="/v1/domains/{domain_id}/verify",
        handler=verify_domain,
        summary="Check the domain's records in DNS now; verified once the required ones are ok",
        scope=Scope.ACCOUNT,
        rate_limit=Policy.DOMAINS,
        response=Domain,
    ),
    Endpoint(
        method="DELETE",
        path="/v1/domains/{domain_id}",
        handler=delete_domain,
        summary="Delete a custom domain (refused while inboxes have addresses at it)",
        scope=Scope.ACCOUNT,
        response=Domain,
    ),
]
