"""DMARC (RFC 7489), evaluated here on top of the SPF and DKIM results.

No library is used for this part: the Python ones either query DNS through a resolver of
their own (`dmarc`, `checkdmarc`, `authheaders`), depend on a Public Suffix List snapshot
from 2019 (`publicsuffix2`), or check a domain's records rather than a message. What
RFC 7489 asks of a receiver is small and fully here:

- the From domain (§3.1.1, §6.6.1): the one domain of the From header; a message with
  several From headers or addresses is evaluated for each of their domains and gets the
  worst result, so a second From cannot hide a forged one;
- policy discovery (§6.6.3): the `_dmarc` TXT record of the From domain, else of its
  organizational domain (the registrable domain by the Public Suffix List, from
  `publicsuffixlist`, which ships the current list); records that do not start with
  `v=DMARC1` are ignored, and several that do mean no policy;
- the record's tags (§6.3): `p`, `sp`, `adkim`, `aspf`, `pct`; a record without a valid
  `p` is used as `p=none` when it has `rua` and ignored otherwise (§6.6.3);
- alignment (§3.1): a passing DKIM signature's `d=` and the SPF-authenticated domain are
  compared with the From domain, exactly (`s`) or by organizational domain (`r`, default);
- the result: `pass` if either aligns, else `fail`, with the policy that applies: `sp`
  for a subdomain whose record came from the organizational domain, else `p`, and for a
  `pct` below 100 the next milder one for the messages sampled out (§6.6.4; the sample is
  a hash of the message, so a redelivery gets the same decision).

A DNS failure is `temperror`; no From domain, or no policy, `none`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from email.utils import getaddresses
from typing import Any

from publicsuffixlist import PublicSuffixList

from dispatch_server.mail.auth.resolver import Deadline, DnsPermError, DnsTempError, Resolver
from dispatch_server.mail.verdicts import Check

MAX_FROM_DOMAINS = 5
_MILDER = {"reject": "quarantine", "quarantine": "none", "none": "none"}
_WORST = ("fail", "temperror", "permerror", "none", "pass")


@functools.cache
def psl() -> PublicSuffixList:
    """The Public Suffix List, loaded once (DMARC, and custom domains' names)."""
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registrable domain of `domain` (RFC 7489 §3.2), itself if it is a public suffix."""
    return psl().privatesuffix(domain.lower().rstrip(".")) or domain.lower().rstrip(".")


def aligned(domain: str | None, from_domain: str, mode: str) -> bool:
    if not domain:
        return False
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if mode == "s":
        return domain == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


def from_domains(raw: bytes) -> tuple[tuple[str, ...], str | None]:
    """The distinct domains of the From header(s), and a remark when they are not exactly
    one From header with one address."""
    values = [_decoded(v) for v in _FROM.findall(_header_block(raw))]
    addresses = [address for _, address in getaddresses(values) if address]
    domains: list[str] = []
    for address in addresses:
        domain = address.rpartition("@")[2].strip().strip("<>").lower().rstrip(".")
        if "@" in address and domain and domain not in domains:
            domains.append(domain)
    remark = None
    if len(values) > 1:
        remark = f"{len(values)} From headers"
    elif len(addresses) > 1:
        remark = f"{len(addresses)} From addresses"
    return tuple(domains[:MAX_FROM_DOMAINS]), remark


def check_dmarc(
    resolver: Resolver,
    deadline: Deadline,
    raw: bytes,
    *,
    domains: tuple[str, ...],
    remark: str | None,
    spf: Check,
    dkim: Check,
) -> Check:
    """The DMARC result of a message with these From domains (`from_domains`) and SPF and
    DKIM results. Never raises."""
    if not domains:
        return Check("none", "no From domain to check")
    spf_domain = spf.domain if spf.result == "pass" else None
    dkim_domains = [
        s["domain"]
        for s in dkim.extra.get("signatures", ())
        if s["result"] == "pass" and s["domain"]
    ]
    checks = [_one(resolver, deadline, domain, spf_domain, dkim_domains, raw) for domain in domains]
    worst = min(checks, key=lambda c: (_WORST.index(c.result), _severity(c.policy)))
    if remark is None:
        return worst
    return Check(
        worst.result,
        f"{remark}; each domain checked, the worst kept: {worst.why}",
        worst.domain,
        worst.policy,
        extra={**worst.extra, "from_domains": list(domains)},
    )


def _severity(policy: str | None) -> int:
    return {"reject": 0, "quarantine": 1}.get(policy or "", 2)


def _one(
    resolver: Resolver,
    deadline: Deadline,
    from_domain: str,
    spf_domain: str | None,
    dkim_domains: list[str],
    raw: bytes,
) -> Check:
    try:
        found = _policy_record(resolver, deadline, from_domain)
    except DnsTempError as exc:
        return Check("temperror", f"the DMARC policy could not be looked up: {exc}", from_domain)
    except DnsPermError as exc:
        return Check("permerror", str(exc), from_domain)
    if found is None:
        return Check("none", f"{from_domain} publishes no DMARC policy", from_domain)
    record_domain, tags = found
    adkim = tags.get("adkim", "r") if tags.get("adkim") in ("r", "s") else "r"
    aspf = tags.get("aspf", "r") if tags.get("aspf") in ("r", "s") else "r"
    policy = tags["p"]
    if record_domain != from_domain and tags.get("sp") in ("none", "quarantine", "reject"):
        policy = tags["sp"]
    pct = _pct(tags.get("pct"))
    extra: dict[str, Any] = {
        "record_domain": record_domain,
        "adkim": adkim,
        "aspf": aspf,
        "pct": pct,
        "published_policy": policy,
    }
    dkim_aligned = next((d for d in dkim_domains if aligned(d, from_domain, adkim)), None)
    spf_aligned = aligned(spf_domain, from_domain, aspf)
    if dkim_aligned is not None:
        why = f"DKIM signature of {dkim_aligned} aligned with {from_domain}"
        return Check("pass", why, from_domain, policy, extra=extra)
    if spf_aligned:
        why = f"SPF pass for {spf_domain}, aligned with {from_domain}"
        return Check("pass", why, from_domain, policy, extra=extra)
    if pct < 100 and _sample(raw) >= pct:
        extra["sampled_out"] = True
        policy = _MILDER[policy]
    why = f"neither a passing DKIM signature nor SPF is aligned with {from_domain}"
    if dkim_domains or spf_domain:
        passed = ", ".join(filter(None, [*dkim_domains, spf_domain]))
        why += f" (passed for {passed}; {'strict' if 's' in (adkim, aspf) else 'relaxed'})"
    return Check("fail", why, from_domain, policy, extra=extra)


def _policy_record(
    resolver: Resolver, deadline: Deadline, from_domain: str
) -> tuple[str, dict[str, str]] | None:
    """(the domain whose record applies, its tags), or None without a policy."""
    found = _record_at(resolver, deadline, from_domain)
    if found is not None:
        return from_domain, found
    organizational = organizational_domain(from_domain)
    if organizational != from_domain:
        found = _record_at(resolver, deadline, organizational)
        if found is not None:
            return organizational, found
    return None


def _record_at(resolver: Resolver, deadline: Deadline, domain: str) -> dict[str, str] | None:
    texts = resolver.txt(f"_dmarc.{domain}", deadline) or []
    records = [t for t in texts if t[:8].lower() == b"v=dmarc1" and t[8:9] in (b"", b";", b" ")]
    if len(records) != 1:
        return None  # none, or several: no policy (RFC 7489 §6.6.3)
    tags = _tags(records[0].decode("ascii", "replace"))
    if tags.get("p") not in ("none", "quarantine", "reject"):
        if "rua" not in tags:
            return None
        tags["p"] = "none"
    return tags


def _tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if sep and name and name not in tags:
            tags[name] = value.strip().lower() if name != "rua" else value.strip()
    return tags


def _pct(value: str | None) -> int:
    if value is None or not value.isdigit():
        return 100
    return min(100, int(value))


def _sample(raw: bytes) -> int:
    return int.from_bytes(hashlib.sha256(raw).digest()[:4], "big") % 100


# A From field with its folded lines (RFC 5322 §2.2.3), at the start of the message or of
# a line of its header block.
_FROM = re.compile(rb"(?:^|\n)From[ \t]*:((?:[^\r\n]|\r?\n[ \t])*)", re.IGNORECASE)


def _decoded(value: bytes) -> str:
    return re.sub(r"\r?\n[ \t]", " ", value.decode("utf-8", "replace")).strip()


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[: end + 2]
