"""Custom domains: a workspace's own domains, the DNS records each publishes, their checks."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class DomainRecord:
    """One DNS record to publish at the domain's DNS host, and what its last check found.

    `purpose` is "ownership" (a TXT with the domain's token) or "receiving" (the MX), both
    required for the domain to be verified, or "sending" (SPF, DKIM, DMARC: for mail from
    the domain to be trusted). `type` is "TXT", "MX" or "CNAME"; `name` the full name the
    record is at; `value` its value (for MX the host, `priority` apart). `status` is
    "pending" (not checked yet), "ok", "missing", "mismatch" (another value) or
    "unavailable" (DNS did not answer: check again later), `reason` says why it is not ok.
    Strings all, so a newer server's values still decode."""

    purpose: str
    type: str
    name: str
    value: str
    priority: int | None
    status: str
    reason: str | None
    checked_at: datetime | None


@attrs.frozen(kw_only=True)
class Domain:
    """A custom domain of the workspace. `status` is "pending" until its ownership TXT and
    MX records check out, then "verified" for good: inboxes can then be created at it
    (`inboxes.create(domain=...)`). `name` is in punycode, `unicode_name` as people read
    it; `sending_ready` says the sending records all checked out last time."""

    id: str
    name: str
    unicode_name: str
    status: str
    sending_ready: bool
    records: tuple[DomainRecord, ...]
    created_at: datetime
    checked_at: datetime | None
    verified_at: datetime | None
