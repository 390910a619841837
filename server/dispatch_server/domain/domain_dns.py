"""Checking a custom domain's records against DNS: what each kind of record must look like to
count as published, asked of the server's resolver (DISPATCH_DNS_SERVER) with no cache, so a
record just published is seen at once.

A check never raises for what DNS answers: a name that does not exist or holds no such record
is `missing`, a record that says something else `mismatch`, a timeout or SERVFAIL
`unavailable` (not yet: check again later), each with a reason. The lookups are blocking
(dnspython): `DomainChecks.check` runs them in a few threads of its own, never on the event
loop, and one check's lookups share a deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence

from dispatch_server.config.settings import InboundAuth
from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.domain.domains import Checked, Record, dmarc_fallback
from dispatch_server.mail.auth.resolver import Deadline, DnsPermError, DnsTempError, Resolver

CHECK_SECONDS = 10.0  # all the lookups of one check together
THREADS = 4  # checks in flight at once; more wait their turn


class DomainChecks:
    """The domain checks of one process: a resolver without a cache, and its threads."""

    def __init__(self, settings: InboundAuth) -> None:
        self.resolver = Resolver.from_settings(settings, cache=False)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=THREADS, thread_name_prefix="domain-dns"
        )
        self._running: set[str] = set()  # workspaces with a check in flight (event loop only)

    async def check(self, records: Sequence[Record], *, workspace_id: str) -> list[Checked]:
        """One result per record, in their order. One check per workspace at a time (the
        threads are shared by all): DomainError `domain_check_in_progress` while another of
        `workspace_id`'s runs."""
        if workspace_id in self._running:
            raise DomainError(
                "another check of this workspace's domains is running: retry once it answered",
                code=ErrorCode.DOMAIN_CHECK_IN_PROGRESS,
            )
        self._running.add(workspace_id)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, check_all, self.resolver, records)
        finally:
            self._running.discard(workspace_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def check_all(resolver: Resolver, records: Sequence[Record]) -> list[Checked]:
    deadline = Deadline(CHECK_SECONDS)
    return [check_one(resolver, record, deadline) for record in records]


def check_one(resolver: Resolver, record: Record, deadline: Deadline) -> Checked:
    try:
        if record.type == "MX":
            return _mx(resolver, record, deadline)
        if record.type == "CNAME":
            return _cname(resolver, record, deadline)
        if record.value.startswith("v=spf1"):
            return _spf(resolver, record, deadline)
        if record.value.startswith("v=DMARC1"):
            return _dmarc(resolver, record, deadline)
        return _exact_txt(resolver, record, deadline)
    except DnsTempError as exc:
        return Checked(status="unavailable", reason=f"{exc}; check again later")
    except DnsPermError as exc:
        return Checked(status="mismatch", reason=str(exc))


def _host(text: str) -> str:
    return text.lower().rstrip(".")


def _texts(resolver: Resolver, name: str, deadline: Deadline) -> list[str] | None:
    found = resolver.txt(name, deadline)
    if found is None:
        return None
    return [text.decode("utf-8", "replace").strip() for text in found]


def _exact_txt(resolver: Resolver, record: Record, deadline: Deadline) -> Checked:
    texts = _texts(resolver, record.name, deadline)
    if not texts:
        return Checked(status="missing", reason=f"no TXT record at {record.name}")
    if record.value in texts:
        return Checked(status="ok")
    return Checked(status="mismatch", reason=f"the TXT records at {record.name} hold another value")


def _mx(resolver: Resolver, record: Record, deadline: Deadline) -> Checked:
    found = resolver.lookup(record.name, "MX", deadline)
    if not found:
        return Checked(status="missing", reason=f"no MX record at {record.name}")
    exchanges = [(int(r.preference), _host(r.exchange.to_text())) for r in found]  # type: ignore[attr-defined]
    best = min(preference for preference, _ in exchanges)
    wanted = _host(record.value)
    if (best, wanted) in exchanges:
        return Checked(status="ok")
    if any(host == wanted for _, host in exchanges):
        return Checked(
            status="mismatch",
            reason=f"{wanted} is not the most preferred MX: mail would go to another host first",
        )
    return Checked(status="mismatch", reason=f"the MX records of {record.name} name other hosts")


def _cname(resolver: Resolver, record: Record, deadline: Deadline) -> Checked:
    found = resolver.lookup(record.name, "CNAME", deadline)
    if not found:
        return Checked(status="missing", reason=f"no CNAME record at {record.name}")
    targets = {_host(r.target.to_text()) for r in found}  # type: ignore[attr-defined]
    if _host(record.value) in targets:
        return Checked(status="ok")
    return Checked(
        status="mismatch", reason=f"{record.name} points at {', '.join(sorted(targets))}"
    )


def _spf(resolver: Resolver, record: Record, deadline: Deadline) -> Checked:
    """The one SPF record of the name (RFC 7208 §4.5: two are a permerror) must name the
    mechanism ours does (`include:amazonses.com` or `mx`); other terms may be there too."""
    texts = _texts(resolver, record.name, deadline) or []
    spf = [text for text in texts if text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")]
    if not spf:
        return Checked(status="missing", reason=f"no SPF record (v=spf1) at {record.name}")
    if len(spf) > 1:
        return Checked(
            status="mismatch",
            reason=f"{len(spf)} SPF records at {record.name}: merge them into one",
        )
    wanted = record.value.split()[1].lower()
    terms = {term.lower().lstrip("+") for term in spf[0].split()[1:]}
    if wanted in terms:
        return Checked(status="ok")
    return Checked(status="mismatch", reason=f"the SPF record does not name {wanted}")


def _dmarc(resolver: Resolver, record: Record, deadline: Deadline) -> Checked:
    """Any one DMARC record counts, whatever its policy, the domain's own or else its
    organizational domain's (which applies to it)."""
    for name in (record.name, dmarc_fallback(record.name.removeprefix("_dmarc."))):
        if name is None:
            continue
        texts = _texts(resolver, name, deadline) or []
        compact = [text.replace(" ", "").lower() for text in texts]
        dmarc = [text for text in compact if text == "v=dmarc1" or text.startswith("v=dmarc1;")]
        if len(dmarc) > 1:
            return Checked(status="mismatch", reason=f"{len(dmarc)} DMARC records at {name}")
        if dmarc:
            reason = None if name == record.name else f"the record at {name} applies"
            return Checked(status="ok", reason=reason)
    return Checked(status="missing", reason=f"no DMARC record (v=DMARC1) at {record.name}")
