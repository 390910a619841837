"""MIME parsing into the fields Dispatch stores, with caps on parts and nesting."""

from __future__ import annotations

import email.errors
import email.policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

import attrs

from dispatch_client.extract import Extraction, decode_text_part, extract

# compat32 keeps headers as raw strings; the header registry of policy.default is several
# times slower, and we only decode the few headers we store.
_PARSER = BytesParser(policy=email.policy.compat32)


class MimeLimitExceeded(Exception):
    """The message is deeper or has more parts than this server parses."""


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
    """Parse and extract artifacts. CPU-bound: call it off the event loop."""
    message = _PARSER.parsebytes(raw)
    parts = _leaf_parts(message, max_parts=max_parts, max_depth=max_depth)
    text = html = None
    attachments: list[Attachment] = []
    for part in parts:
        content_type = part.get_content_type()
        if _is_attachment(part):
            attachments.append(
                Attachment(
                    filename=_optional_storable(_safe_filename(part)),
                    content_type=content_type,
                    size_bytes=_payload_size(part),
                )
            )
        elif content_type == "text/plain" and text is None:
            text = storable(decode_text_part(part))
        elif content_type == "text/html" and html is None:
            html = storable(decode_text_part(part))
    subject = _header(message, "subject")
    from_header = _header(message, "from")
    from_addresses = _addresses(message, "from")
    return ParsedMessage(
        message_id_header=_header(message, "message-id"),
        from_header=from_header,
        from_address=from_addresses[0] if from_addresses else None,
        to_addresses=_addresses(message, "to"),
        cc_addresses=_addresses(message, "cc"),
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


def _optional_storable(text: str | None) -> str | None:
    return None if text is None else storable(text)


def _leaf_parts(message: Message, *, max_parts: int, max_depth: int) -> list[Message]:
    leaves: list[Message] = []
    count = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > max_parts:
            raise MimeLimitExceeded(f"more than {max_parts} MIME parts")
        if depth > max_depth:
            raise MimeLimitExceeded(f"MIME nesting deeper than {max_depth}")
        # An attached message (message/rfc822, a bounce's original, ...) is an attachment:
        # its body and its codes are not this message's.
        if part.is_multipart() and part.get_content_maintype() != "message":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
        else:
            leaves.append(part)
    return leaves


def _payload_size(part: Message) -> int:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return len(payload)
    inner = part.get_payload()  # the parsed parts of an attached message
    if not isinstance(inner, list):
        return 0
    try:
        return sum(len(item.as_bytes()) for item in inner if isinstance(item, Message))
    except Exception:  # a part too broken to serialise again still counts as an attachment
        return 0


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("content-disposition") or "").split(";")[0].strip().lower()
    if disposition == "attachment":
        return True
    return (
        part.get_content_maintype() not in ("text", "multipart") or _safe_filename(part) is not None
    )


def _safe_filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:  # malformed RFC 2231 parameters; the attachment still counts
        return None


def _header(message: Message, name: str) -> str | None:
    """A header as text: RFC 2047 encoded-words decoded, folding undone."""
    values = _header_values(message, name)
    if not values:
        return None
    return " ".join(values[0].split()) or None


def _header_values(message: Message, name: str) -> list[str]:
    """Every value of one header as text. Raw 8-bit header bytes (SMTPUTF8 mail) are read as
    UTF-8, else as Windows-1252; compat32 on its own would turn them into U+FFFD."""
    wanted = name.lower()
    return [
        storable(_decode_words(_from_8bit(value)))
        for key, value in message.raw_items()
        if key.lower() == wanted and isinstance(value, str)
    ]


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
        chunk if isinstance(chunk, str) else _decode_chunk(chunk, charset)
        for chunk, charset in chunks
    )


def _decode_chunk(chunk: bytes, charset: str | None) -> str:
    if charset is None:
        return chunk.decode("raw-unicode-escape", "replace")
    try:
        return chunk.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return chunk.decode("latin-1")


def _addresses(message: Message, name: str) -> list[str]:
    values = _header_values(message, name)
    return [addr.lower() for _, addr in getaddresses(values) if "@" in addr]


def _spam_flagged(message: Message) -> bool:
    flag = (_header(message, "x-spam-flag") or "").lower()
    status = (_header(message, "x-spam-status") or "").lower()
    return flag.startswith("yes") or status.startswith("yes")
