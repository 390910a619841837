"""The one DNS resolver of the inbound checks, and the time budget each message's checks share.

Every lookup SPF, DKIM and DMARC make goes through `Resolver.lookup`: to the server of
DISPATCH_DNS_SERVER (else the system's), with EDNS (answers up to 1232 bytes over UDP, TCP
when truncated), a cache that keeps answers for their TTL (up to an hour; NXDOMAIN and NODATA for a
minute), and each query bounded by both DISPATCH_DNS_TIMEOUT_SECONDS and what is left
of the message's `Deadline`. Lookups are synchronous: the checks run in worker threads.
A resolver made with `cache=False` (the custom domains' checks: a record just published must
be seen at once) keeps nothing.
"""

from __future__ import annotations

import logging
import time

import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.resolver

from dispatch_server.config.settings import InboundAuth, dns_address

log = logging.getLogger("dispatch_server.auth")

CACHE_ENTRIES = 20_000
NEGATIVE_TTL = 60  # seconds an NXDOMAIN or NODATA is kept (RFC 2308 caps it by the SOA)
MAX_TTL = 3600
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation
MAX_TXT_BYTES = 16 * 1024  # all the strings of the TXT records at one name, together


class DnsTempError(Exception):
    """No usable answer for now: a timeout, SERVFAIL, no server, or the budget used up."""


class DnsPermError(Exception):
    """The question cannot be asked (a malformed name) or its answer is unusable (too big)."""


class NotCached(BaseException):
    """A lookup the cache cannot answer, in checks that may not wait for DNS (the event-loop
    attempt of `InboundAuth.check`). A BaseException, so that it passes the libraries'
    `except Exception` on its way out."""


class Deadline:
    """The time one message's checks may still take; `cached_only`: none for DNS at all."""

    def __init__(self, seconds: float, *, cached_only: bool = False) -> None:
        self.end = time.monotonic() + seconds
        self.cached_only = cached_only

    def left(self) -> float:
        return self.end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.left() <= 0


class Resolver:
    def __init__(self, server: str | None, timeout: float, *, cache: bool = True) -> None:
        self.server = server
        self.timeout = timeout
        self.cache = cache
        self._resolver: dns.resolver.Resolver | None = None
        self._problem: str | None = None
        # Answers by (name, type) until they expire, in front of dnspython's own cache (a
        # hit there still costs a name parse and an Answer): the same few sending domains
        # come again and again. Failures are not kept.
        self._answers: dict[tuple[str, str], tuple[float, list[dns.rdata.Rdata] | None]] = {}
        try:
            resolver = dns.resolver.Resolver(configure=server is None)
        except dns.exception.DNSException as exc:  # no /etc/resolv.conf, or no server in it
            self._problem = f"no DNS resolver configured: {exc}"
            log.warning("inbound checks: %s; set DISPATCH_DNS_SERVER", self._problem)
            return
        if server is not None:
            host, port = dns_address(server)
            resolver.nameservers = [host]
            resolver.port = port
        resolver.use_edns(0, 0, EDNS_PAYLOAD)
        resolver.timeout = timeout
        resolver.lifetime = timeout
        if cache:
            resolver.cache = dns.resolver.LRUCache(CACHE_ENTRIES)
        self._resolver = resolver

    @classmethod
    def from_settings(cls, settings: InboundAuth, *, cache: bool = True) -> Resolver:
        return cls(settings.dns_server, settings.dns_timeout_seconds, cache=cache)

    def lookup(self, name: str, rdtype: str, deadline: Deadline) -> list[dns.rdata.Rdata] | None:
        """The records of `rdtype` at `name` ([] when it has none of that type), or None
        when the name does not exist. CNAMEs are followed."""
        key = (name.lower(), rdtype)
        cached = self._answers.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if deadline.cached_only:
            raise NotCached(name, rdtype)
        found, ttl = self._ask(name, rdtype, deadline)
        if not self.cache:
            return found
        if len(self._answers) >= CACHE_ENTRIES:
            self._answers.clear()
        self._answers[key] = (time.monotonic() + ttl, found)
        return found

    def _ask(
        self, name: str, rdtype: str, deadline: Deadline
    ) -> tuple[list[dns.rdata.Rdata] | None, float]:
        """What `lookup` answers, and for how long it holds."""
        if self._resolver is None:
            raise DnsTempError(self._problem or "no DNS resolver")
        left = deadline.left()
        if left <= 0:
            raise DnsTempError("the time for this message's checks is used up")
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
            raise DnsPermError(f"{name!r} is no valid domain name: {exc}") from None
        try:
            answer = self._resolver.resolve(
                qname,
                rdtype,
                lifetime=min(self.timeout, left),
                raise_on_no_answer=False,
                search=False,
            )
        except dns.resolver.NXDOMAIN:
            return None, NEGATIVE_TTL
        except dns.resolver.LifetimeTimeout:
            raise DnsTempError(f"DNS timeout for {rdtype} {name}") from None
        except dns.resolver.NoNameservers:
            raise DnsTempError(f"DNS server failure (SERVFAIL) for {rdtype} {name}") from None
        except dns.resolver.YXDOMAIN:
            raise DnsPermError(f"{name} is too long once its CNAMEs are followed") from None
        except dns.exception.DNSException as exc:
            raise DnsTempError(f"DNS error for {rdtype} {name}: {exc}") from None
        if answer.rrset is None:
            return [], NEGATIVE_TTL
        return list(answer.rrset), min(answer.rrset.ttl, MAX_TTL)

    def txt(self, name: str, deadline: Deadline) -> list[bytes] | None:
        """The TXT records at `name`, each one's strings joined; None when the name does
        not exist."""
        records = self.lookup(name, "TXT", deadline)
        if records is None:
            return None
        texts = [b"".join(record.strings) for record in records]  # type: ignore[attr-defined]
        if sum(map(len, texts)) > MAX_TXT_BYTES:
            raise DnsPermError(f"the TXT records of {name} are over {MAX_TXT_BYTES} bytes")
        return texts
