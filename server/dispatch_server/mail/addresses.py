"""Email addresses: how a recipient maps to an inbox, and the recipients a message names."""

from __future__ import annotations

from email import message_from_bytes
from email.utils import getaddresses


def normalize_address(address: str) -> str:
    """Lower-case and drop +subaddress tags: bot+github@x reaches bot@x."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if local else address.lower()


def header_recipients(raw: bytes) -> tuple[str, ...]:
    """The addresses in a raw message's To and Cc headers."""
    headers = message_from_bytes(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    values = [str(v) for name in ("to", "cc") for v in headers.get_all(name, [])]
    return tuple(addr for _, addr in getaddresses(values) if "@" in addr)
