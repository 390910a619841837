"""MIME parsing into the fields Dispatch stores, with caps on parts and nesting.

The walk over the MIME tree, the attachment rule and charset decoding are the SDK's
(`dispatch_client.extract`), so the server and `extract_message` read a message alike.

What is refused (MimeLimitExceeded, which ingest answers as unparseable: SMTP 554, HTTP
422): more MIME parts or deeper nesting than the caps, counted while parsing so that the
parse stops there; an address header (From, To, Cc) too long or too deeply nested to read
(see `mail.addresses`); and a message without a single header (empty, blank or bare text),
which is no mail a client can show. Where the mail was accepted already (by SES), the
refused message is stored anyway, as `read_unparseable` reads it: its headers alone.

Addresses come from the raw headers and display names are decoded afterwards, so an
encoded-word cannot forge an address; `from_header` is rebuilt from the parsed pairs.
"""

from __future__ import annotations

import email.errors
import email.policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser

import attrs

from dispatch_client.extract import Extraction, extract
from dispatch_client.extract.mime import (
    MimeLimitExceeded,
    attachment_filename,
    decode_bytes,
    decode_text_part,
    header_block,
    is_attachment,
    leaf_parts,
    parse_bytes,
)
from dispatch_server.core.text import UNSTORABLE
from dispatch_server.mail import boundaries
from dispatch_server.mail.addresses import display_address, parse_addresses
from dispatch_server.mail.compose import MSG_ID

__all__ = [
    "Attachment",
    "HeaderlessMessage",
    "MimeLimitExceeded",
    "ParsedMessage",
    "attachment_payload",
    "decode_words",
    "parse_message",
    "read_unparseable",
    "storable",
]

# compat32 keeps headers as raw strings; the header registry of policy.default is several
# times slower, and we only decode the few headers we store.
_POLICY = email.policy.compat32
boundaries.install()
_STORED_HEADERS = frozenset(
    {"subject", "from", "message-id", "to", "cc", "in-reply-to", "references"}
)
# The References kept for threading: the newest ones (a long thread's list only grows).
MAX_REFERENCES = 20
# Header text decoded (the rest of a longer value is dropped; the raw message keeps it).
MAX_DECODED_HEADER_CHARS = 32 * 1024
_HEADER_NAMES = {"from": "From", "to": "To", "cc": "Cc"}
_HEADER_PARSER = BytesHeaderParser(policy=_POLICY)
# The From text kept of a message that cannot be parsed (its addresses were unreadable).
SHOWN_UNPARSEABLE_FROM_CHARS = 998


class HeaderlessMessage(MimeLimitExceeded):
    """The message has no header at all: empty, blank, or text without a header."""


@attrs.frozen
class Attachment:
    """An attachment as stored with its message (the `attachments` JSON column). Where its
    encoded body lies in the raw message (`start`, `length`, in bytes) and its transfer
    `encoding` let a download read that range alone; messages stored before these were
    recorded, and attached messages (whose body the parser holds as parts), have none and
    are read whole (see `attachment_payload`)."""

    filename: str | None
    content_type: str
    size_bytes: int
    content_id: str | None = None
    encoding: str | None = None
    start: int | None = None
    length: int | None = None


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
    # Threading (domain.threads): the msg-ids of In-Reply-To and of References (oldest
    # first, at most MAX_REFERENCES), each `<...>` of printable ASCII.
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()


def parse_message(raw: bytes, *, max_parts: int, max_depth: int) -> ParsedMessage:
    """Parse and extract artifacts. CPU-bound: large messages belong off the event loop.
    Raises MimeLimitExceeded (a subclass of it) for what is refused, see the module."""
    message = parse_bytes(raw, policy=_POLICY, max_parts=max_parts, max_depth=max_depth)
    headers = _headers(message)
    if not message.keys():
        raise HeaderlessMessage("the message has no header")
    text = html = None
    attachments: list[Attachment] = []
    # Leaf parts come in the order of the raw message: each body is searched for after the
    # one before, so the searches cover `raw` about once. None: a body was not found, the
    # rest go unranged rather than each searching to the end again.
    searched_to: int | None = 0
    for part in leaf_parts(message, max_parts=max_parts, max_depth=max_depth):
        content_type = part.get_content_type()
        if is_attachment(part):
            filename = attachment_filename(part)
            found = None
            body = None if searched_to is None else _written_body(part)
            if searched_to is not None and body is not None:
                found = _find(raw, body, searched_to)
                searched_to = None if found is None else found[0] + found[1]
            attachments.append(
                Attachment(
                    filename=None if filename is None else storable(filename),
                    content_type=content_type,
                    size_bytes=_payload_size(part),
                    content_id=_content_id(part),
                    encoding=None if found is None else _encoding(part),
                    start=None if found is None else found[0],
                    length=None if found is None else found[1],
                )
            )
        elif content_type == "text/plain" and text is None:
            text = storable(decode_text_part(part))
        elif content_type == "text/html" and html is None:
            html = storable(decode_text_part(part))
    subject = _first_decoded(headers, "subject")
    senders = _pairs(headers, "from")
    return ParsedMessage(
        message_id_header=_first_decoded(headers, "message-id"),
        from_header=_show_from(headers, senders),
        # One sender or none: a From that names several addresses (or, unquoted, writes an
        # address as its display name) says no one address the mail is from.
        from_address=senders[0][1].lower() if len(senders) == 1 else None,
        to_addresses=[address.lower() for _, address in _pairs(headers, "to")],
        cc_addresses=[address.lower() for _, address in _pairs(headers, "cc")],
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        spam_flagged=_spam_flagged(message),
        extraction=extract(subject, text, html),
        in_reply_to=_msg_ids(headers, "in-reply-to")[:1],
        references=_msg_ids(headers, "references")[-MAX_REFERENCES:],
    )


def read_unparseable(raw: bytes) -> ParsedMessage:
    """What can be shown of a message `parse_message` refused, read without walking its MIME
    tree or parsing its addresses: the Subject and Message-ID, the From header's text as
    written (no address is taken from it), no body, no attachment, nothing extracted. The
    raw message keeps the rest. Never raises: the header block is read as flat text."""
    headers = _headers(_HEADER_PARSER.parsebytes(header_block(raw)))
    sender = _first_decoded(headers, "from")
    return ParsedMessage(
        message_id_header=_first_decoded(headers, "message-id"),
        from_header=None if sender is None else sender[:SHOWN_UNPARSEABLE_FROM_CHARS],
        from_address=None,
        to_addresses=[],
        cc_addresses=[],
        subject=_first_decoded(headers, "subject"),
        text=None,
        html=None,
        attachments=[],
        spam_flagged=False,
        extraction=Extraction(otps=(), links=()),
        in_reply_to=_msg_ids(headers, "in-reply-to")[:1],
        references=_msg_ids(headers, "references")[-MAX_REFERENCES:],
    )


def storable(text: str) -> str:
    """Text every database stores and JSON carries: NUL characters and lone surrogates (what
    UTF-7, `+2D0-`, decodes to) become U+FFFD; the raw bytes keep what was sent."""
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    return UNSTORABLE.sub("\ufffd", text)


def attachment_payload(raw: bytes, index: int, *, max_parts: int, max_depth: int) -> bytes | None:
    """The decoded content of the message's attachment at `index` (in `parse_message`'s
    order), parsing the whole message: for attachments stored without a range. An attached
    message is its parts serialised again. None: no such attachment."""
    try:
        message = parse_bytes(raw, policy=_POLICY, max_parts=max_parts, max_depth=max_depth)
        parts = [p for p in leaf_parts(message, max_parts=max_parts, max_depth=max_depth)]
    except MimeLimitExceeded:
        return None
    found = [part for part in parts if is_attachment(part)]
    if not 0 <= index < len(found):
        return None
    part = found[index]
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    inner = part.get_payload()
    if not isinstance(inner, list):
        return b""
    return b"".join(item.as_bytes() for item in inner if isinstance(item, Message))


# The transfer encodings the email package decodes that `mail.attachments` does not piece
# by piece: a part in one is stored without a range. Any other unknown one means the body
# as written, for both.
WHOLE_ENCODINGS = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})


def _encoding(part: Message) -> str:
    """The part's transfer encoding as the email package reads it; an unknown one means
    the body as it is, for the email package as for `mail.attachments`."""
    return str(part.get("content-transfer-encoding", "")).lower()


def _written_body(part: Message) -> bytes | None:
    """A leaf part's encoded body as written in the raw message: the parser keeps its bytes
    (as surrogate-escaped ASCII; `get_payload()` would decode them with the part's charset,
    which need not be ASCII-compatible). None for an attached message (its body parsed into
    parts), an encoding read whole, or a base64 or quoted-printable body with 8-bit bytes
    (the email package's decoding of those is left to it: the whole-message path)."""
    payload = getattr(part, "_payload", None)  # the body as parsed, not decoded for a charset
    if _encoding(part) in WHOLE_ENCODINGS or not isinstance(payload, str):
        return None
    body = payload.encode("ascii", "surrogateescape")
    if _encoding(part) in ("base64", "quoted-printable") and not body.isascii():
        return None
    # One character past a whole group: the email package returns the body undecoded
    # (without its line ends), which no piecewise decoding gives.
    undecoded = _encoding(part) == "base64" and body
    if undecoded and part.get_payload(decode=True) == b"".join(body.splitlines()):
        return None
    return body


def _find(raw: bytes, body: bytes, searched_to: int) -> tuple[int, int] | None:
    """Where `body` is in `raw` (start, length), at or after `searched_to` (in C, in linear
    time), or None. Any match holds the body's very bytes, so it decodes to the same
    content; the first is never past the part's own, which comes after the parts before it."""
    start = raw.find(body, searched_to) if body else searched_to
    return None if start < 0 else (start, len(body))


# RFC 5322 caps a line at 998 characters; a Content-ID is one line.
MAX_CONTENT_ID_CHARS = 998


def _content_id(part: Message) -> str | None:
    """The Content-ID without its angle brackets (how a cid: URL names it), or None."""
    value = part.get("content-id")
    if value is None:
        return None
    text = " ".join(str(value).split()).strip().removeprefix("<").removesuffix(">").strip()
    return storable(text[:MAX_CONTENT_ID_CHARS]) or None


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
    """The stored headers as written, in one pass: raw 8-bit bytes (SMTPUTF8 mail) read as
    UTF-8, else as Windows-1252 (compat32 alone would turn them into U+FFFD). Encoded-words
    are left for `decode_words`, after addresses are split off."""
    found: dict[str, list[str]] = {}
    for key, value in message.raw_items():
        name = key.lower()
        if name in _STORED_HEADERS and isinstance(value, str):
            found.setdefault(name, []).append(storable(_from_8bit(value)))
    return found


def _first_decoded(headers: dict[str, list[str]], name: str) -> str | None:
    """A header's first value, encoded-words decoded and folding undone."""
    values = headers.get(name)
    if not values:
        return None
    return _one_line(decode_words(values[0]))


def _msg_ids(headers: dict[str, list[str]], name: str) -> tuple[str, ...]:
    """The msg-ids of a header's first value: of its first MAX_DECODED_HEADER_CHARS, but
    of References its last (the newest ids come last)."""
    values = headers.get(name)
    if not values:
        return ()
    value = values[0]
    if len(value) > MAX_DECODED_HEADER_CHARS:
        value = (
            value[-MAX_DECODED_HEADER_CHARS:]
            if name == "references"
            else value[:MAX_DECODED_HEADER_CHARS]
        )
    return tuple(MSG_ID.findall(value))


def _one_line(text: str) -> str | None:
    return storable(" ".join(text.split())) or None


def _pairs(headers: dict[str, list[str]], name: str) -> list[tuple[str, str]]:
    return parse_addresses(headers.get(name, []), header=_HEADER_NAMES[name])


def _show_from(headers: dict[str, list[str]], senders: list[tuple[str, str]]) -> str | None:
    """The From header for showing: each sender's decoded display name (quoted if need be)
    and address; the decoded text as written when it names no address."""
    if not senders:
        return _first_decoded(headers, "from")
    shown = ", ".join(
        display_address(" ".join(decode_words(name).split()), address) for name, address in senders
    )
    return _one_line(shown)


def _from_8bit(value: str) -> str:
    if value.isascii():
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words, leaving the text around them as it is. Only the first
    MAX_DECODED_HEADER_CHARS: the email package's decoder takes time quadratic in the number
    of words (an 8 MB subject of encoded-words held a core for minutes)."""
    if "=?" not in value:
        return value
    value = value[:MAX_DECODED_HEADER_CHARS]
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


def threading_headers(raw: bytes) -> tuple[tuple[str, ...], str | None]:
    """What a reply to `raw` needs besides its Message-ID: the msg-ids of its References
    (at most the last 20), and the first address of its Reply-To (None without one, or
    when the header cannot be read)."""
    headers = _HEADER_PARSER.parsebytes(header_block(raw))
    references = tuple(MSG_ID.findall(str(headers.get("References", ""))))[-20:]
    try:
        reply_to = parse_addresses(
            (str(v) for v in headers.get_all("Reply-To", [])), header="Reply-To"
        )
    except MimeLimitExceeded:
        reply_to = []
    return references, (reply_to[0][1] if reply_to else None)
