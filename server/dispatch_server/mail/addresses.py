"""Email addresses: how a recipient maps to an inbox, and the addresses a header names.

Addresses are read from a header as written, before any RFC 2047 encoded-word is decoded:
an encoded "@", "<" or "," belongs to a display name and never makes an address
(`=?UTF-8?Q?security=40bank.example?= <attacker@evil.example>` is from attacker@evil.example).
Display names are decoded afterwards, by whoever shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from dispatch_client.extract.mime import MimeLimitExceeded, header_block
from dispatch_server.core.errors import InvalidInput

# Of one header's values together (all To headers, say): about 1,000 addresses. The stdlib
# parser takes some 10 µs an address, and a group's members cost quadratic time.
MAX_ADDRESS_HEADER_CHARS = 32 * 1024
# Characters that need a display name quoted (RFC 5322 specials).
_SPECIALS = frozenset('()<>[]:;@\\,."')
_HEADER_PARSER = BytesHeaderParser(policy=compat32)


class UnreadableAddresses(MimeLimitExceeded):
    """An address header too long, or nesting comments or groups too deeply, to read. In mail
    that arrives, the message is refused as unparseable."""


def check_recipient_count(count: int, limit: int, param: str) -> None:
    """At most `limit` (DISPATCH_MAX_RECIPIENTS) recipients: more is an InvalidInput."""
    if count > limit:
        raise InvalidInput(f"{count} recipients; at most {limit} are taken", param=param)


def normalize_address(address: str) -> str:
    """Lower-case and drop +subaddress tags: bot+github@x reaches bot@x."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
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
