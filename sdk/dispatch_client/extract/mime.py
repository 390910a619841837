"""Reading a message's MIME structure: its leaf parts, which of them are attachments, and
their text, decoded the way mail clients decode it.

The server's ingest and `extract_message` both read a message with these, so what the server
stores is what the SDK finds client-side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import Policy, compat32

__all__ = [
    "MimeLimitExceeded",
    "attachment_filename",
    "body_parts",
    "decode_bytes",
    "decode_text_part",
    "header_block",
    "is_attachment",
    "leaf_parts",
    "parse_bytes",
]

MAX_PARTS = 200  # MIME parts walked by default
MAX_DEPTH = 10  # MIME nesting walked by default
# The email package's parser recurses once per nesting level: deeper is refused whatever
# max_depth a caller asks for, far below Python's recursion limit.
DEPTH_CEILING = 100


class MimeLimitExceeded(ValueError):
    """The message has more MIME parts, or deeper nesting, than is walked (or is otherwise
    unreadable as mail: the server refuses every one of these as unparseable)."""


def parse_bytes(
    raw: bytes,
    *,
    policy: Policy = compat32,
    max_parts: int = MAX_PARTS,
    max_depth: int = MAX_DEPTH,
) -> Message:
    """Parse RFC 5322 bytes, stopping with MimeLimitExceeded as soon as the parser has made
    more than `max_parts` parts (attached messages and their parts included) or nests deeper
    than `max_depth` (at most DEPTH_CEILING), so a message of a million empty parts costs what
    its first few hundred do. With `policy.default` the parts are EmailMessages."""
    budget = _Budget(max_parts, min(max_depth, DEPTH_CEILING))
    kind = _BoundedEmailMessage if policy.message_factory is EmailMessage else _BoundedMessage

    def factory(policy: Policy = policy) -> Message:
        return kind(policy, budget)

    # Parser reads its input in 8 KiB chunks and parses as it goes: the budget stops it early.
    return BytesParser(factory, policy=policy).parsebytes(raw)


def header_block(raw: bytes) -> bytes:
    """The header lines of a raw message, without its body: for reading headers cheaply."""
    end = _BLANK_LINE.search(raw)
    return raw if end is None else raw[: end.start() + 1]


_BLANK_LINE = re.compile(rb"\n\r?\n")


class _Budget:
    """What one parse may still create. The root part is counted from the start."""

    def __init__(self, max_parts: int, max_depth: int) -> None:
        self.max_parts = max_parts
        self.max_depth = max_depth
        self.parts = 1

    def admit(self, depth: int) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise MimeLimitExceeded(f"more than {self.max_parts} MIME parts")
        if depth > self.max_depth:
            raise MimeLimitExceeded(f"MIME nesting deeper than {self.max_depth}")


class _BoundedMessage(Message):
    """A parsed part that charges every part attached to it to its parse's budget (the
    parser attaches each new part to its parent as soon as it meets it)."""

    def __init__(self, policy: Policy, budget: _Budget) -> None:
        super().__init__(policy)
        self.budget = budget
        self.depth = 0

    def attach(self, payload: Message | str) -> None:
        _admit(self, payload)
        super().attach(payload)


class _BoundedEmailMessage(EmailMessage):
    """_BoundedMessage for `policy.default`."""

    def __init__(self, policy: Policy, budget: _Budget) -> None:
        super().__init__(policy)
        self.budget = budget
        self.depth = 0

    def attach(self, payload: _BoundedEmailMessage) -> None:  # type: ignore[override]
        _admit(self, payload)
        super().attach(payload)


def _admit(parent: _BoundedMessage | _BoundedEmailMessage, child: Message | str) -> None:
    if isinstance(child, _BoundedMessage | _BoundedEmailMessage):
        child.depth = parent.depth + 1
        parent.budget.admit(child.depth)


def leaf_parts(
    message: Message, *, max_parts: int = MAX_PARTS, max_depth: int = MAX_DEPTH
) -> list[Message]:
    """The non-multipart parts of a message in document order. An attached message
    (message/rfc822, the original inside a bounce, ...) is one leaf: its body is not this
    message's. The same walk serves the server's ingest and `extract_message`."""
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
        if part.is_multipart() and part.get_content_maintype() != "message":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
        else:
            leaves.append(part)
    return leaves


def body_parts(leaves: Iterable[Message]) -> tuple[Message | None, Message | None]:
    """The first text/plain and the first text/html leaf that are not attachments."""
    text = html = None
    for part in leaves:
        if is_attachment(part):
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and text is None:
            text = part
        elif kind == "text/html" and html is None:
            html = part
    return text, html


def is_attachment(part: Message) -> bool:
    """Marked as an attachment, named like a file, or not text (images, PDFs, messages)."""
    if _content_disposition(part) == "attachment":
        return True
    return part.get_content_maintype() not in ("text", "multipart") or (
        attachment_filename(part) is not None
    )


def attachment_filename(part: Message) -> str | None:
    """The file name a part declares (Content-Disposition or Content-Type), if any."""
    # Parsing the parameters is most of what this costs; a part whose two headers hold no
    # "name" (`filename`, `name`, `filename*0*`, ...) can declare none.
    if not any("name" in str(value).lower() for value in _naming_headers(part)):
        return None
    try:
        return part.get_filename()
    except Exception:  # malformed RFC 2231 parameters: the part still counts, without a name
        return None


def _naming_headers(part: Message) -> list[object]:
    return [*part.get_all("content-disposition", ()), *part.get_all("content-type", ())]


def _content_disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except (ValueError, TypeError, LookupError):
        return None


# What mail clients decode these labels as: the Windows and GB supersets, which senders use
# while declaring the older name (WHATWG Encoding Standard).
_CHARSET_SUPERSETS = {
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "big5": "big5hkscs",
}


def decode_text_part(part: Message) -> str:
    """A text part's content: transfer encoding undone, then its charset (unknown or lying
    charsets fall back to UTF-8 with replacement characters, never an exception), with the
    wire's CRLF line ends as newlines."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload()).replace("\r\n", "\n")
    return decode_bytes(payload, part.get_content_charset()).replace("\r\n", "\n")


def decode_bytes(payload: bytes, declared: str | None) -> str:
    """Bytes labelled with a charset, decoded the way mail clients do: the superset of the
    label, then UTF-8 (the usual truth behind a wrong label); replacement characters only
    when neither decodes cleanly."""
    label = (declared or "utf-8").strip().lower()
    charset = _CHARSET_SUPERSETS.get(label, label)
    for candidate in (charset, "utf-8"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")
