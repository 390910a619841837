"""Security verdicts, wherever they come from, and the one place that decides a folder.

A message's verdicts come from one of three sources:

- `dispatch`: the SMTP door checked SPF, DKIM and DMARC itself (`mail.auth`);
- `ses`: Amazon SES checked them, and scanned for spam and viruses (`from_ses`);
- `webhook`: the dev webhook, which only says whether to treat the message as spam.

SPF, DKIM and DMARC results are RFC 8601 result words (`pass`, `fail`, `softfail`, `neutral`,
`none`, `policy`, `temperror`, `permerror`), each with why; spam and virus verdicts are SES's
statuses in lower case (`pass`, `fail`, `gray`, `processing_failed`).

The folder (`classify`), first rule that applies:

1. mail that could not be parsed but was accepted already (by SES), stored with its headers
   and raw MIME only (`mail.parse.read_unparseable`) → `quarantine`;
2. a virus verdict of `fail` → `quarantine`;
3. a spam verdict of `fail`, or an `X-Spam-Flag: YES` / `X-Spam-Status: Yes` header (an
   upstream filter's mark) → `spam`;
4. DMARC `fail` where the From domain's policy (after `pct` sampling) is `quarantine` or
   `reject` → `spam`;
5. otherwise → `inbox`.

A `temperror` never moves a message: mail is not punished for a DNS outage. Nothing is
refused on a verdict either: the owner of an inbox can still read what went to spam or
quarantine (`folder=spam`, `folder=quarantine`, `folder=all`), while OTP and link look-ups
and waits only see the inbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import attrs

INBOX, SPAM, QUARANTINE = "inbox", "spam", "quarantine"
PASS, FAIL = "pass", "fail"
# What a `Check.result` may be (RFC 8601 §2.7).
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "policy", "temperror", "permerror")
SCAN_RESULTS = ("pass", "fail", "gray", "processing_failed")
POLICIES = ("none", "quarantine", "reject")
SOURCES = ("dispatch", "ses", "webhook")
WHY_CHARS = 300  # a stored explanation is cut to this


@attrs.frozen
class Check:
    """One SPF, DKIM or DMARC result and why.

    `domain` is the domain the result is about: for SPF the one whose record was checked
    (MAIL FROM's, else HELO's), for DKIM the `d=` of the signature that decided, for DMARC
    the From domain. `policy` is DMARC's only: what the From domain asks for failing mail.
    `extra` is kept in the stored details (JSON values only)."""

    result: str
    why: str | None = None
    domain: str | None = None
    policy: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)


@attrs.frozen
class Verdicts:
    spam: str | None = None
    virus: str | None = None
    spf: Check | None = None
    dkim: Check | None = None
    dmarc: Check | None = None
    source: str | None = None


@attrs.frozen
class Decision:
    folder: str
    reason: str | None  # why the folder is not the inbox


def classify(verdicts: Verdicts, *, spam_flagged: bool, unparseable: str | None = None) -> Decision:
    """The folder of a message with these verdicts (the rules are in the module doc);
    `unparseable` says why a message stored anyway could not be parsed."""
    if unparseable is not None:
        return Decision(
            QUARANTINE, f"the message could not be parsed ({unparseable}); kept as received"
        )
    if verdicts.virus == FAIL:
        return Decision(QUARANTINE, "the virus scan found a virus")
    if verdicts.spam == FAIL:
        return Decision(SPAM, "the spam verdict is fail")
    if spam_flagged:
        return Decision(SPAM, "an upstream filter flagged it as spam (X-Spam-Flag/X-Spam-Status)")
    dmarc = verdicts.dmarc
    if dmarc is not None and dmarc.result == FAIL and dmarc.policy in ("quarantine", "reject"):
        return Decision(
            SPAM, f"DMARC failed and {dmarc.domain or 'the From domain'} asks to {dmarc.policy} it"
        )
    return Decision(INBOX, None)


def classify_folder(verdicts: Verdicts, *, spam_flagged: bool) -> str:
    return classify(verdicts, spam_flagged=spam_flagged).folder


# -- storing and reading back ---------------------------------------------------------------


def columns(verdicts: Verdicts) -> dict[str, str | None]:
    """The verdict columns of message_security."""
    return {
        "spam_verdict": verdicts.spam,
        "virus_verdict": verdicts.virus,
        "spf_verdict": None if verdicts.spf is None else verdicts.spf.result,
        "dkim_verdict": None if verdicts.dkim is None else verdicts.dkim.result,
        "dmarc_verdict": None if verdicts.dmarc is None else verdicts.dmarc.result,
    }


def details(verdicts: Verdicts, decision: Decision, *, spam_flagged: bool) -> dict[str, Any]:
    """message_security.details: what the columns do not hold."""
    found: dict[str, Any] = {"spam_flag_header": spam_flagged, "source": verdicts.source}
    if decision.reason is not None:
        found["folder_reason"] = decision.reason
    for name in ("spf", "dkim", "dmarc"):
        check: Check | None = getattr(verdicts, name)
        if check is not None:
            found[name] = {
                "why": _cut(check.why),
                "domain": check.domain,
                "policy": check.policy,
                **check.extra,
            }
    return found


def read_back(row: Any) -> tuple[Verdicts, str | None]:
    """The verdicts and folder reason stored in a message_security row (columns
    spam_verdict ... dmarc_verdict and details). Verdicts stored before these checks existed
    (upper-case SES words, no details) read as well."""
    stored: Mapping[str, Any] = row.details or {}

    def check(name: str) -> Check | None:
        result = getattr(row, f"{name}_verdict")
        more = stored.get(name) or {}
        if result is None:
            return None
        return Check(
            result=_normalized(result),
            why=more.get("why"),
            domain=more.get("domain"),
            policy=more.get("policy"),
        )

    verdicts = Verdicts(
        spam=_scan(row.spam_verdict),
        virus=_scan(row.virus_verdict),
        spf=check("spf"),
        dkim=check("dkim"),
        dmarc=check("dmarc"),
        source=stored.get("source"),
    )
    return verdicts, stored.get("folder_reason")


def _normalized(result: str) -> str:
    lowered = result.lower()
    return _FROM_SES.get(lowered, lowered)


def _scan(verdict: str | None) -> str | None:
    return None if verdict is None else verdict.lower()


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= WHY_CHARS:
        return text
    return text[: WHY_CHARS - 1] + "…"


# -- Amazon SES -----------------------------------------------------------------------------

# SES's statuses for SPF, DKIM and DMARC as RFC 8601 words. GRAY: no SPF record, no DKIM
# signature, no DMARC policy; PROCESSING_FAILED: SES could not check (a DNS error, say).
_FROM_SES = {"gray": "none", "processing_failed": "temperror"}
_SES_WHY = {
    "spf": {
        "pass": "Amazon SES: the sending IP is permitted by the SPF record",
        "fail": "Amazon SES: the SPF check failed",
        "none": "Amazon SES: the MAIL FROM domain has no SPF record",
        "temperror": "Amazon SES could not check SPF",
    },
    "dkim": {
        "pass": "Amazon SES: a DKIM signature verified",
        "fail": "Amazon SES: the DKIM check failed",
        "none": "Amazon SES: the message is not DKIM-signed",
        "temperror": "Amazon SES could not check DKIM",
    },
    "dmarc": {
        "pass": "Amazon SES: the DMARC check passed",
        "fail": "Amazon SES: the DMARC check failed",
        "none": "Amazon SES: the From domain has no DMARC policy",
        "temperror": "Amazon SES could not check DMARC",
    },
}
_HEADERS_READ = 64 * 1024  # the X-SES headers are at the top


def from_ses(receipt: Mapping[str, Any] | None = None, raw: bytes | None = None) -> Verdicts:
    """The verdicts of a message Amazon SES received: from the `receipt` object of its
    notification (spamVerdict, virusVerdict, spfVerdict, dkimVerdict, dmarcVerdict,
    dmarcPolicy), and for what that lacks (mail stored in S3 comes without a notification)
    from the `X-SES-Spam-Verdict` and `X-SES-Virus-Verdict` headers SES adds on top of the
    raw message. Unknown or missing values are left unset, never guessed."""
    receipt = receipt or {}
    spam = _status(receipt.get("spamVerdict"), SCAN_RESULTS)
    virus = _status(receipt.get("virusVerdict"), SCAN_RESULTS)
    if raw is not None and (spam is None or virus is None):
        headers = _top_headers(raw)
        spam = spam or _scan_header(headers, "x-ses-spam-verdict")
        virus = virus or _scan_header(headers, "x-ses-virus-verdict")
    policy = receipt.get("dmarcPolicy")
    policy = policy.lower() if isinstance(policy, str) and policy.lower() in POLICIES else None
    checks: dict[str, Check | None] = {}
    for name in ("spf", "dkim", "dmarc"):
        status = _status(receipt.get(f"{name}Verdict"), SCAN_RESULTS)
        if status is None:
            checks[name] = None
            continue
        result = _FROM_SES.get(status, status)
        checks[name] = Check(
            result=result,
            why=_SES_WHY[name].get(result),
            policy=policy if name == "dmarc" else None,
        )
    return Verdicts(
        spam=spam,
        virus=virus,
        spf=checks["spf"],
        dkim=checks["dkim"],
        dmarc=checks["dmarc"],
        source="ses",
    )


def _status(verdict: object, allowed: Sequence[str]) -> str | None:
    if not isinstance(verdict, Mapping):
        return None
    status = verdict.get("status")
    if not isinstance(status, str) or status.lower() not in allowed:
        return None
    return status.lower()


def _top_headers(raw: bytes) -> list[tuple[str, str]]:
    end = raw.find(b"\r\n\r\n", 0, _HEADERS_READ)
    if end < 0:
        end = raw.find(b"\n\n", 0, _HEADERS_READ)
    head = raw[: end if end >= 0 else _HEADERS_READ]
    message = BytesHeaderParser(policy=compat32).parsebytes(head)
    return [(name.lower(), str(value)) for name, value in message.items()]


_WORD = re.compile(r"\s*([A-Za-z_]+)")


def _scan_header(headers: list[tuple[str, str]], name: str) -> str | None:
    """The first (topmost: the one SES added above the sender's) header of this name."""
    value = next((v for n, v in headers if n == name), None)
    found = None if value is None else _WORD.match(value)
    if found is None or found.group(1).lower() not in SCAN_RESULTS:
        return None
    return found.group(1).lower()
