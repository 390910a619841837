"""SPF (RFC 7208) with pyspf, its DNS through our resolver.

pyspf is the SPF implementation of the RFC 7208 authors' circle (the library behind
spf-engine and the Postfix/Sendmail policy servers), checked against the RFC's test suite;
its evaluation enforces the RFC's limits itself: 10 DNS-querying terms, 2 void lookups,
10 MX and 10 PTR names, CNAME chains of 10. Its DNS hook is a module function, so it is
replaced once with one that answers through the resolver of the check running in this
thread (a context variable), and through pyspf's own lookup only outside our checks.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable
from typing import Any

import spf

from dispatch_server.mail.auth.resolver import Deadline, DnsPermError, DnsTempError, Resolver
from dispatch_server.mail.verdicts import Check

_CURRENT: contextvars.ContextVar[tuple[Resolver, Deadline] | None] = contextvars.ContextVar(
    "dispatch_spf_resolver", default=None
)
_PYSPF_LOOKUP: Callable[..., Any] = spf.DNSLookup


def _lookup(name: str, qtype: str, strict: bool = True, timeout: float = 30) -> list[Any]:
    """pyspf's DNSLookup: [((name, type), value), ...] with values as pyspf's own gives
    them (TXT: a list of byte strings, MX: (preference, exchange), A/AAAA: the address)."""
    current = _CURRENT.get()
    if current is None:
        return list(_PYSPF_LOOKUP(name, qtype, strict, timeout))
    resolver, deadline = current
    try:
        records = resolver.lookup(name, qtype, deadline)
    except DnsTempError as exc:
        raise spf.TempError(str(exc)) from None
    except DnsPermError as exc:
        raise spf.PermError(str(exc)) from None
    found: list[Any] = []
    for record in records or ():
        key = (name, qtype)
        if qtype in ("A", "AAAA"):
            found.append((key, record.address))  # type: ignore[attr-defined]
        elif qtype == "MX":
            exchange = record.exchange.to_text(omit_final_dot=True)  # type: ignore[attr-defined]
            found.append((key, (record.preference, exchange)))  # type: ignore[attr-defined]
        elif qtype == "PTR":
            found.append((key, record.target.to_text(omit_final_dot=True)))  # type: ignore[attr-defined]
        elif qtype in ("TXT", "SPF"):
            found.append((key, list(record.strings)))  # type: ignore[attr-defined]
    return found


spf.DNSLookup = _lookup


def check_spf(
    resolver: Resolver,
    deadline: Deadline,
    *,
    client_ip: str | None,
    mail_from: str | None,
    helo: str | None,
) -> Check:
    """SPF of the MAIL FROM domain, or of the HELO name for a null sender (RFC 7208 §2.4).
    Never raises: trouble is a `temperror` or `permerror`."""
    sender = (mail_from or "").strip()
    helo = (helo or "").strip()
    scope = "mailfrom" if sender else "helo"
    domain = (sender.rpartition("@")[2] if sender else helo).lower() or None
    extra = {"scope": scope, "client_ip": client_ip}
    if not client_ip:
        return Check("none", "the client's IP address is unknown", domain, extra=extra)
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        return Check("none", f"{client_ip!r} is no IP address", domain, extra=extra)
    if domain is None:
        return Check("none", "neither MAIL FROM nor HELO names a domain", None, extra=extra)
    token = _CURRENT.set((resolver, deadline))
    try:
        query = spf.query(i=client_ip, s=sender, h=helo, querytime=0)
        result, _, explanation = query.check()
        mechanism = getattr(query, "mechanism", None)
    except Exception as exc:  # a bug or an input pyspf did not expect: never the door's
        return Check("permerror", f"SPF evaluation failed: {exc}", domain, extra=extra)
    finally:
        _CURRENT.reset(token)
    result = str(result)
    if result == "ambiguous":  # only pyspf's harsh mode, which is not used
        result = "permerror"
    extra["mechanism"] = None if mechanism is None else str(mechanism)
    return Check(
        result, _why(result, client_ip, domain, mechanism, explanation), domain, extra=extra
    )


def _why(result: str, ip: str, domain: str, mechanism: Any, explanation: str) -> str:
    matched = f" ({mechanism})" if mechanism else ""
    if result == "pass":
        return f"{ip} is permitted by the SPF record of {domain}{matched}"
    if result == "fail":
        return f"{ip} is not permitted by the SPF record of {domain}{matched}"
    if result == "softfail":
        return f"the SPF record of {domain} discourages mail from {ip}{matched}"
    if result == "neutral":
        return f"the SPF record of {domain} says nothing about {ip}{matched}"
    if result == "none":
        return f"{domain} has no SPF record"
    return explanation or result
