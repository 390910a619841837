"""DKIM (RFC 6376, RFC 8463) by our own lean verifier (`dkim_verify`), its key lookups through
our resolver.

`dkim_verify` canonicalizes, hashes and verifies (RSA and ed25519 by OpenSSL, through
`cryptography`), answering as dkimpy did when it verified here; what it reports is split
here into RFC 8601 results, and each signature is bounded before it is verified:

- at most DISPATCH_DKIM_MAX_SIGNATURES signatures are checked, from the top;
- a `DKIM-Signature` field over 8 KiB, or one whose tags do not parse or break RFC 6376's
  rules (missing tags, `i=` outside `d=`, expired `x=`), is `permerror` without a lookup;
- `rsa-sha1` is `permerror` (RFC 8301: verifiers must not accept it), and so is a key
  under 1024 bits;
- a key that is missing is `permerror`, revoked (empty `p=`) `permerror`, and one whose
  lookup timed out or failed `temperror`;
- a signature with `l=` that covers less than the whole body verifies but is `policy`:
  what follows its `l=` bytes could be anything, so it does not count for DMARC.

The message's result is `pass` if one signature passes (the one aligned with the From domain
first), else the most telling failure: `temperror` (retrying could pass), `fail`, `policy`,
`permerror`, `neutral`; `none` without signatures.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from dispatch_server.mail.auth.dkim_verify import (
    Key,
    KeyUnusable,
    Message,
    MessageFormatError,
    SignatureInvalid,
    canonicalization,
    parse_key,
    parse_message,
    parse_tags,
    validate_signature,
    verify_signature,
)
from dispatch_server.mail.auth.resolver import Deadline, DnsPermError, DnsTempError, Resolver
from dispatch_server.mail.verdicts import Check

MAX_SIGNATURE_FIELD = 8 * 1024
MIN_KEY_BITS = 1024
_ORDER = ("temperror", "fail", "policy", "permerror", "neutral")


class _KeyProblem(Exception):
    def __init__(self, result: str, why: str) -> None:
        super().__init__(why)
        self.result, self.why = result, why


def check_dkim(
    resolver: Resolver,
    deadline: Deadline,
    raw: bytes,
    *,
    max_signatures: int,
    from_domains: tuple[str, ...] = (),
) -> Check:
    """The DKIM result of `raw` with one entry per signature checked in `extra`:
    `signatures` [{domain, selector, result, why}] and `unchecked` (how many past the cap).
    Never raises."""
    if b"dkim-signature" not in _header_block(raw).lower():
        return Check("none", "the message has no DKIM signature")
    try:
        message = parse_message(raw)
    except MessageFormatError as exc:
        return Check("permerror", f"the message cannot be read for DKIM: {exc}")
    fields = [(n, v) for n, v in message.headers if n.lower() == b"dkim-signature"]
    if not fields:
        return Check("none", "the message has no DKIM signature")
    signatures = []
    for index, field in enumerate(fields[:max_signatures]):
        signatures.append(_check_one(resolver, deadline, message, index, field))
    extra: dict[str, Any] = {
        "signatures": signatures,
        "unchecked": max(0, len(fields) - max_signatures),
    }
    passed = [s for s in signatures if s["result"] == "pass"]
    if passed:
        aligned = [s for s in passed if _relaxed_match(s["domain"], from_domains)]
        best = (aligned or passed)[0]
    else:
        best = min(
            signatures,
            key=lambda s: _ORDER.index(s["result"]) if s["result"] in _ORDER else len(_ORDER),
        )
    return Check(best["result"], best["why"], best["domain"], extra=extra)


def _check_one(
    resolver: Resolver,
    deadline: Deadline,
    message: Message,
    index: int,
    field: tuple[bytes, bytes],
) -> dict[str, Any]:
    found: dict[str, Any] = {"domain": None, "selector": None}

    def done(result: str, why: str) -> dict[str, Any]:
        return {**found, "result": result, "why": why}

    value = field[1]
    if len(value) > MAX_SIGNATURE_FIELD:
        return done("permerror", f"the signature field is over {MAX_SIGNATURE_FIELD} bytes")
    try:
        tags = parse_tags(value)
    except Exception as exc:
        return done("permerror", f"the signature's tags do not parse: {exc}")
    found["domain"] = _text(tags.get(b"d")).lower() or None
    found["selector"] = _text(tags.get(b"s")) or None
    try:
        validate_signature(tags)
    except Exception as exc:
        return done("permerror", f"invalid signature: {exc}")
    if tags[b"a"] == b"rsa-sha1":
        return done("permerror", "rsa-sha1 signatures are not accepted (RFC 8301)")
    if deadline.expired:
        return done("temperror", "the time for this message's checks was used up")
    key_name = f"{found['selector']}._domainkey.{found['domain']}"
    try:
        key = _key_of(_key_record(resolver, deadline, key_name))
    except _KeyProblem as problem:
        return done(problem.result, problem.why)
    try:
        verified = verify_signature(message, field, tags, key, min_key_bits=MIN_KEY_BITS)
    except SignatureInvalid as exc:  # the fields were valid: the body hash differs, say
        return done("fail", str(exc))
    except KeyUnusable as exc:
        return done("permerror", f"the key at {key_name} is unusable: {exc}")
    except Exception as exc:
        return done("permerror", f"the signature could not be checked: {exc}")
    if not verified:
        return done("fail", f"the signature of {found['domain']} does not verify")
    unsigned = _unsigned_tail(message, tags)
    if unsigned:
        return done(
            "policy",
            f"the signature of {found['domain']} covers the body's first {int(tags[b'l'])} "
            f"bytes only (l=); {unsigned} bytes after them are unsigned",
        )
    return done("pass", f"a valid signature of {found['domain']} (selector {found['selector']})")


def _key_record(resolver: Resolver, deadline: Deadline, name: str) -> bytes:
    try:
        texts = resolver.txt(name, deadline)
    except DnsTempError as exc:
        raise _KeyProblem("temperror", f"the key at {name} could not be looked up: {exc}") from None
    except DnsPermError as exc:
        raise _KeyProblem("permerror", f"no key at {name}: {exc}") from None
    if not texts:
        raise _KeyProblem("permerror", f"no key at {name}")
    record = texts[0]
    problem = _key_problem(record)
    if problem is not None:
        raise _KeyProblem(problem[0], problem[1].format(name=name))
    return record


def _key_of(record: bytes) -> Key:
    """The key of a record `_key_problem` found no problem with (parsed once, cached)."""
    return parse_key(record)


@functools.lru_cache(maxsize=1024)
def _key_problem(record: bytes) -> tuple[str, str] | None:
    """What is wrong with a key record (its result and why, `{name}` for where it is), or
    None. Kept per record: the same few keys sign most mail."""
    try:
        tags = parse_tags(record)
    except Exception as exc:
        return "permerror", f"the key record at {{name}} does not parse: {_braces(exc)}"
    if not re.sub(rb"\s+", b"", tags.get(b"p", b"")):
        return "permerror", "the key at {name} is revoked (empty p=)"
    try:
        parse_key(record)
    except Exception as exc:
        return "permerror", f"the key at {{name}} is unusable: {_braces(exc)}"
    return None


def _braces(exc: Exception) -> str:
    return str(exc).replace("{", "{{").replace("}", "}}")


def _unsigned_tail(message: Message, tags: dict[bytes, bytes]) -> int:
    """How many canonical body bytes a signature's `l=` leaves out."""
    if b"l" not in tags:
        return 0
    _, body_algorithm = canonicalization(tags.get(b"c", b"simple/simple"))
    return max(0, len(message.canonical_body(body_algorithm)) - int(tags[b"l"]))


def _relaxed_match(domain: str | None, from_domains: tuple[str, ...]) -> bool:
    if not domain:
        return False
    return any(
        domain == d or domain.endswith("." + d) or d.endswith("." + domain) for d in from_domains
    )


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("ascii", "replace").strip()


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[:end]
