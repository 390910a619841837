"""MIME parsing into the fields Dispatch stores, with caps on parts and nesting.

The walk over the MIME tree, the attachment rule and charset decoding are the SDK's
(`dispatch_client.extract`), so the server and `extract_message` read a message alike.
"""

from __future__ import annotations

import email.errors
import email.policy
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses

import attrs

from dispatch_client.extract import Extraction, extract
from dispatch_client.extract.mime import (
    MimeLimitExceeded,
    attachment_filename,
    decode_bytes,
    decode_text_part,
    is_attachment,
    leaf_parts,
    parse_bytes,
)

__all__ = ["Attachment", "MimeLimitExceeded", "ParsedMessage", "parse_message", "storable"]

# compat32 keeps headers as raw strings; the header registry of policy.default is several
# times slower, and we only decode the few headers we store.
_POLICY = email.policy.compat32
_STORED_HEADERS = frozenset({"subject", "from", "message-id", "to", "cc"})


@attrs.frozen
class Attachment:
    filename: str | None
    content_type: str
    size_bytes: int


@attrs.frozen
class ParsedMessage:
    message_id_header: str | None
    from_header: str | None
    from_address: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    subject: str | None
    text: str | None
    html: str | None
    attachments: list[Attachment]
    spam_flagged: bool
    extraction: Extraction


def parse_message(raw: bytes, *, max_parts: int, max_depth: int) -> ParsedMessage:
    """Parse and extract artifacts. CPU-bound: large messages belong off the event loop.
    Raises MimeLimitExceeded beyond the caps, as soon as the parser passes them."""
    message = parse_bytes(raw, policy=_POLICY, max_parts=max_parts, max_depth=max_depth)
    text = html = None
    attachments: list[Attachment] = []
    for part in leaf_parts(message, max_parts=max_parts, max_depth=max_depth):
        content_type = part.get_content_type()
        if is_attachment(part):
            filename = attachment_filename(part)
            attachments.append(
                Attachment(
                    filename=None if filename is None else storable(filename),
                    content_type=content_type,
                    size_bytes=_payload_size(part),
                )
            )
        elif content_type == "text/plain" and text is None:
            text = storable(decode_text_part(part))
        elif content_type == "text/html" and html is None:
            html = storable(decode_text_part(part))
    headers = _headers(message)
    subject = _first(headers, "subject")
    from_addresses = _addresses(headers, "from")
    return ParsedMessage(
        message_id_header=_first(headers, "message-id"),
        from_header=_first(headers, "from"),
        from_address=from_addresses[0] if from_addresses else None,
        to_addresses=_addresses(headers, "to"),
        cc_addresses=_addresses(headers, "cc"),
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        spam_flagged=_spam_flagged(message),
        extraction=extract(subject, text, html),
    )


def storable(text: str) -> str:
    """Text PostgreSQL can store: NUL characters become U+FFFD (the raw bytes keep them)."""
    return text.replace("\x00", "\ufffd")


def _payload_size(part: Message) -> int:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return len(payload)
    inner = part.get_payload()  # an attached message, as parsed parts
    if not isinstance(inner, list):
        return 0
    return sum(_parsed_size(item) for item in inner if isinstance(item, Message))


def _parsed_size(message: Message) -> int:
    """About the size of a parsed message in bytes (boundary lines are not counted), from
    what the parser holds: serialising it again would cost far more on a large bounce."""
    total = 0
    for part in message.walk():
        total += sum(len(name) + len(value) + 4 for name, value in part.raw_items()) + 2
        payload = None if part.is_multipart() else part.get_payload()
        if isinstance(payload, str):
            total += len(payload)
    return total


def _headers(message: Message) -> dict[str, list[str]]:
    """The stored headers as text, in one pass: raw 8-bit bytes (SMTPUTF8 mail) read as UTF-8,
    else as Windows-1252 (compat32 alone would turn them into U+FFFD), encoded-words decoded."""
    found: dict[str, list[str]] = {}
    for key, value in message.raw_items():
        name = key.lower()
        if name in _STORED_HEADERS and isinstance(value, str):
            found.setdefault(name, []).append(storable(_decode_words(_from_8bit(value))))
    return found


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    """A header's first value, folding undone."""
    values = headers.get(name)
    if not values:
        return None
    return " ".join(values[0].split()) or None


def _addresses(headers: dict[str, list[str]], name: str) -> list[str]:
    return [addr.lower() for _, addr in getaddresses(headers.get(name, [])) if "@" in addr]


def _from_8bit(value: str) -> str:
    if value.isascii():
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words, leaving the text around them as it is."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except (ValueError, email.errors.HeaderParseError):
        return value  # a broken encoded-word: keep the raw text
    # decode_header hands back plain text as raw-unicode-escape bytes with charset None.
    return "".join(
        chunk
        if isinstance(chunk, str)
        else chunk.decode("raw-unicode-escape", "replace")
        if charset is None
        else decode_bytes(chunk, charset)
        for chunk, charset in chunks
    )


def _spam_flagged(message: Message) -> bool:
    flag = str(message.get("x-spam-flag") or "").strip().lower()
    status = str(message.get("x-spam-status") or "").strip().lower()
    return flag.startswith("yes") or status.startswith("yes")
