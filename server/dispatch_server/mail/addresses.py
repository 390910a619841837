"""Email addresses: how a recipient maps to an inbox, and the addresses a header names.

Addresses are read from a header as written, before any RFC 2047 encoded-word is decoded:
an encoded "@", "<" or "," belongs to a display name and never makes an address
(`=?UTF-8?Q?security=40bank.example?= <attacker@evil.example>` is from attacker@evil.example).
Display names are decoded afterwards, by whoever shows them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

import idna  # an httpx dependency, so always installed

from dispatch_client.extract.mime import MimeLimitExceeded, header_block
from dispatch_server.core.errors import InvalidInput
from dispatch_server.core.text import CONTROL

# Of one header's values together (all To headers, say): about 1,000 addresses. The stdlib
# parser takes some 10 µs an address, and a group's members cost quadratic time.
MAX_ADDRESS_HEADER_CHARS = 32 * 1024
# Characters that need a display name quoted (RFC 5322 specials).
_SPECIALS = frozenset('()<>[]:;@\\,."')
_HEADER_PARSER = BytesHeaderParser(policy=compat32)
# RFC 5321 dot-atom local parts, in ASCII (no SMTPUTF8): what every relay takes.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_SEND_ADDRESS_CHARS = 254  # RFC 5321's path limit, less the angle brackets


class UnreadableAddresses(MimeLimitExceeded):
    """An address header too long, or nesting comments or groups too deeply, to read. In mail
    that arrives, the message is refused as unparseable."""


def check_recipient_count(count: int, limit: int, param: str) -> None:
    """At most `limit` (DISPATCH_MAX_RECIPIENTS) recipients: more is an InvalidInput."""
    if count > limit:
        raise InvalidInput(f"{count} recipients; at most {limit} are taken", param=param)


def recipient_mailbox(value: str, param: str) -> tuple[str, str]:
    """One address a caller sends to, `a@b.example` or `Name <a@b.example>`, as (display
    name, address): the domain in ASCII (IDNA 2008 with UTS #46 mapping: `bücher.example`
    becomes `xn--bcher-kva.example`), the local part as given. Anything else is an
    InvalidInput naming `param`: control characters, no or several addresses, a local part
    outside RFC 5321's ASCII dot-atom, an address literal, a domain that is not a host name
    with a dot, an address over 254 characters."""
    shown = value[:100]
    if CONTROL.search(value):
        raise InvalidInput(f"{param}: {shown!r} holds a control character", param=param)
    try:
        pairs = parse_addresses([value], header=param)
    except UnreadableAddresses as exc:
        raise InvalidInput(str(exc), param=param) from None
    if len(pairs) != 1 or value.count("@") < 1:
        raise InvalidInput(f"{param}: {shown!r} is not one address", param=param)
    name, address = pairs[0]
    local, _, domain = address.rpartition("@")
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise InvalidInput(
            f"{param}: {shown!r} has a local part that is not an ASCII dot-atom", param=param
        )
    ascii_domain = ascii_domain_of(domain)
    if ascii_domain is None:
        raise InvalidInput(f"{param}: {shown!r} has no valid domain", param=param)
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_SEND_ADDRESS_CHARS:
        raise InvalidInput(f"{param}: {shown!r} is longer than 254 characters", param=param)
    return name, address


def ascii_domain_of(domain: str) -> str | None:
    """The domain as lower-case ASCII labels, or None if it is not a host name with a dot
    (an address literal `[10.0.0.1]` is not taken); one trailing dot, the root, is dropped."""
    if not domain or domain.startswith("["):
        return None
    try:
        ascii_domain = idna.encode(domain.removesuffix("."), uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253 or labels[-1].isdigit():
        return None
    return ascii_domain if all(_LABEL.fullmatch(label) for label in labels) else None


def normalize_address(address: str) -> str:
    """Lower-case and drop +subaddress tags: bot+github@x reaches bot@x; an international
    domain in punycode, as inbox addresses have it (bot@bücher.de reaches
    bot@xn--bcher-kva.de)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    if not domain.isascii():
        domain = ascii_domain_of(domain) or domain
    return f"{local.split('+', 1)[0]}@{domain}" if local else address.lower()


def parse_addresses(values: Iterable[str], *, header: str) -> list[tuple[str, str]]:
    """The (display name, address) pairs of one header's values, as written: display names
    keep their encoded-words. Pairs without an address (no "@") are left out."""
    values = list(values)
    if sum(len(value) for value in values) > MAX_ADDRESS_HEADER_CHARS:
        raise UnreadableAddresses(
            f"the {header} header is longer than {MAX_ADDRESS_HEADER_CHARS} characters"
        )
    try:
        pairs = getaddresses(values)
    except RecursionError:
        # The stdlib parser recurses once per nested comment or group; input that reaches
        # Python's recursion limit (1,000 frames, far beyond any mail) is not addresses.
        raise UnreadableAddresses(f"the {header} header nests too deeply") from None
    return [(name, address) for name, address in pairs if "@" in address]


def display_address(name: str, address: str) -> str:
    """`Name <address>` for showing, the name quoted when it holds specials (so a decoded
    "@" or "," in it cannot read as an address); the bare address without a name."""
    return f"{quote_name(name)} <{address}>" if name else address


def quote_name(name: str) -> str:
    """A display name as a quoted-string if it holds specials, else as it is."""
    if not any(char in _SPECIALS for char in name):
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def header_recipients(raw: bytes) -> tuple[str, ...]:
    """The addresses in a raw message's To and Cc headers. Raises UnreadableAddresses."""
    headers = _HEADER_PARSER.parsebytes(header_block(raw))
    return tuple(
        address
        for name in ("To", "Cc")
        for _, address in parse_addresses((str(v) for v in headers.get_all(name, [])), header=name)
    )
