"""Composing RFC 5322 messages from fields given as text: the one place where text a caller
supplies (the inbound webhook's JSON form; outbound send later) becomes a message.

The header block is written here, not by the email package, whose folder (Python 3.11.7)
decodes encoded-words in a value and re-folds them, so `=?UTF-8?Q?=0A?=` in a subject
became a line break and the text after it a header (CVE-2024-6923). The rules:

- No control character in any field: C0 (CR, LF, TAB, NUL ...), DEL, C1 (U+0085 ...),
  U+2028 and U+2029 are refused, as an InvalidInput naming the field (`from`, `to`,
  `subject`, `headers`). Nothing else is refused for what it contains.
- Every value is text. One that is not printable ASCII, or holds "=?" (which would read as an
  encoded-word), is written as UTF-8 encoded-words, so readers decode it back to exactly
  the text given: an encoded-word in the input is never decoded here.
- Address headers (From, To, Cc, Bcc, Reply-To, Sender and their Resent- forms) are read
  into addresses, at most `max_recipients` over To, Cc and Bcc. Each is written as
  `display-name <address>`, the address as given (no spaces, controls or delimiters), the
  name as text by the rule above; one header at most MAX_ADDRESS_HEADER_CHARS written, what
  the inbound side reads.
- Header names are printable ASCII without ":". Content-Type, Content-Transfer-Encoding
  and MIME-Version come from the body, which the email package builds from `text`/`html`.

- Attachments are MIME parts the email package writes (base64, the filename as RFC 2231
  parameters); a filename or content type holding a control character is refused
  (`attachments`), and a content type must be `type/subtype` in token characters.

Everything is linear in the input's size.
"""

from __future__ import annotations

import base64
import email.policy
import re
import secrets
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate

import attrs

from dispatch_server.core.errors import InvalidInput
from dispatch_server.core.text import CONTROL
from dispatch_server.mail.addresses import (
    MAX_ADDRESS_HEADER_CHARS,
    UnreadableAddresses,
    check_recipient_count,
    parse_addresses,
    quote_name,
)

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322: printable ASCII except ":"
# Set from the body, never by a caller.
_BODY_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
_ADDRESS_HEADERS = frozenset(
    {"from", "sender", "reply-to", "to", "cc", "bcc"}
    | {f"resent-{name}" for name in ("from", "sender", "to", "cc", "bcc")}
)
_RECIPIENT_HEADERS = frozenset({"to", "cc", "bcc"})
_PLAIN = re.compile(r"[ -~]*")  # printable ASCII
# An address as given: no spaces, controls, quotes or delimiters, one "@".
_ADDRESS = re.compile(r'[^\s"(),:;<>@\[\\\]]+@(?:[^\s"(),:;<>@\[\\\]]+|\[[^\s"\[\\\]]+\])')
_LINE = 78  # folded lines stay this short where a space allows (RFC 5322 says SHOULD)
_MAX_LINE = 998  # the hard limit
_WORD_BYTES = 45  # UTF-8 bytes per encoded-word: 60 base64 characters, 72 in all
_FOLD = "\r\n "
_MAX_PLAIN_NAME = 200  # longer display names are encoded-words, which fold
_MAX_ADDRESS = 320
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 2045 token characters
_CONTENT_TYPE = re.compile(f"{_TOKEN}/{_TOKEN}")
# One msg-id: printable ASCII, no < or > inside; well within a line.
MSG_ID = re.compile(r"<[!-;=?-~]{1,900}>")


@attrs.frozen
class Attachment:
    filename: str
    content_type: str  # type/subtype
    data: bytes


def new_message_id(domain: str) -> str:
    """A fresh Message-ID, with its angle brackets: random, nothing of the host in it."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def compose(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str | None,
    html: str | None,
    headers: Mapping[str, str],
    message_id_domain: str,
    max_recipients: int,
    cc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """A text and/or HTML message. `headers` replace the defaults they name (Date,
    Message-ID, To...); a bad field is an InvalidInput naming it (see the module).
    `message_id`, `in_reply_to` and `references` are msg-ids with their angle brackets (a
    received message's, for a reply); Bcc is never written (its recipients are envelope
    only)."""
    check_recipient_count(len(to) + len(cc), max_recipients, "to")  # before reading them
    fields: dict[str, str] = {}  # lower-case name: header line
    fields["from"] = _address_line("From", [sender], "from")[0]
    fields["to"], count = _address_line("To", to, "to")
    if cc:
        fields["cc"], cc_count = _address_line("Cc", cc, "cc")
        count += cc_count
    check_recipient_count(count, max_recipients, "to")
    if reply_to:
        fields["reply-to"] = _address_line("Reply-To", reply_to, "reply_to")[0]
    fields["subject"] = _line("Subject", subject, "subject")
    fields["date"] = f"Date: {formatdate(usegmt=True)}"
    fields["message-id"] = f"Message-ID: {message_id or new_message_id(message_id_domain)}"
    for name, ids in (
        ("In-Reply-To", [in_reply_to] if in_reply_to else []),
        ("References", references),
    ):
        written = _msg_ids(ids)
        if written:
            fields[name.lower()] = f"{name}: {written}"
    recipients = count
    for name, value in headers.items():
        key = _check_header_name(name)
        if key in _ADDRESS_HEADERS:
            line, count = _address_line(name, [value], "headers")
            if key in _RECIPIENT_HEADERS:
                recipients += count
                check_recipient_count(recipients, max_recipients, "headers")
        else:
            line = _line(name, value, "headers")
        fields.pop(key, None)  # a replaced default, or the same name in another case
        fields[key] = line
    head = "".join(f"{line}\r\n" for line in fields.values())
    return head.encode() + _body(text, html, attachments)


def _msg_ids(ids: Sequence[str]) -> str:
    """msg-ids for In-Reply-To and References, folded one a line; only well-formed ones
    (from stored mail, which may hold anything) are written."""
    kept = [mid for mid in ids if MSG_ID.fullmatch(mid)]
    return _FOLD.join(kept)


def _body(text: str | None, html: str | None, attachments: Sequence[Attachment] = ()) -> bytes:
    """The MIME entity of the body: MIME-Version, Content-* headers, content; CRLF lines."""
    body = EmailMessage(policy=email.policy.SMTP)
    if text:
        body.set_content(text)
    if html:
        if text:
            body.add_alternative(html, subtype="html")
        else:
            body.set_content(html, subtype="html")
    for attachment in attachments:
        _check_text("attachment filename", attachment.filename, "attachments")
        if not _CONTENT_TYPE.fullmatch(attachment.content_type):
            raise InvalidInput(
                f"attachment content type {attachment.content_type[:100]!r} is not type/subtype",
                param="attachments",
            )
        maintype, subtype = attachment.content_type.lower().split("/")
        body.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return body.as_bytes()


def _check_header_name(name: str) -> str:
    if not _FIELD_NAME.fullmatch(name):
        raise InvalidInput(f"header name {name!r} is not a valid field name", param="headers")
    key = name.lower()
    if key in _BODY_HEADERS:
        raise InvalidInput(f"header {name!r} is set from text and html", param="headers")
    return key


def _check_text(name: str, value: str, param: str) -> None:
    control = CONTROL.search(value)
    if control:
        raise InvalidInput(
            f"{name} holds the control character U+{ord(control.group()):04X}", param=param
        )


def _line(name: str, value: str, param: str) -> str:
    """`Name: value` for an unstructured value, folded: plain when it is printable ASCII
    without "=?", else UTF-8 encoded-words."""
    _check_text(name, value, param)
    if _PLAIN.fullmatch(value) and "=?" not in value:
        folded = _fold(f"{name}: {value}")
        if folded is not None:
            return folded
    return f"{name}: " + _FOLD.join(_encoded_words(value))


def _fold(line: str) -> str | None:
    """The line folded before spaces that have a word after them, to keep within 78
    characters where it can; None if a piece stays longer than 998."""
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for word in line.split(" "):
        if word and current and length + 1 + len(word) > _LINE:
            pieces.append(" ".join(current))
            current, length = [""], 0  # the continuation starts with the space
        current.append(word)
        length += len(word) + 1
    pieces.append(" ".join(current))
    if any(len(piece) > _MAX_LINE for piece in pieces):
        return None
    return "\r\n".join(pieces)


def _encoded_words(value: str) -> list[str]:
    """`value` as RFC 2047 base64 encoded-words of whole characters, each within 75
    characters. A reader joins adjacent encoded-words without the space between them."""
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_encoded_word(bytes(chunk)))
            chunk.clear()
        chunk += encoded
    if chunk:
        words.append(_encoded_word(bytes(chunk)))
    return words


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode()}?="


def _address_line(name: str, values: Sequence[str], param: str) -> tuple[str, int]:
    """`Name: a <x@y>,\r\n b <z@w>`, the addresses of `values` one a line, and their number."""
    written: list[str] = []
    for value in values:
        _check_text(name, value, param)
        try:
            pairs = parse_addresses([value], header=name)
        except UnreadableAddresses as exc:
            raise InvalidInput(str(exc), param=param) from None
        if not pairs:
            raise InvalidInput(f"{name} names no address: {value[:100]!r}", param=param)
        for display, address in pairs:
            if len(address) > _MAX_ADDRESS or not _ADDRESS.fullmatch(address):
                raise InvalidInput(f"{name}: {address[:100]!r} is no address", param=param)
            written.append(f"{_display_name(display)} <{address}>" if display else address)
    value = ",\r\n ".join(written)
    if len(value) > MAX_ADDRESS_HEADER_CHARS:  # more than any reader here would take
        raise InvalidInput(
            f"the {name} header would be longer than {MAX_ADDRESS_HEADER_CHARS} characters "
            "written (its display names are encoded)",
            param=param,
        )
    return f"{name}: {value}", len(written)


def _display_name(name: str) -> str:
    if len(name) > _MAX_PLAIN_NAME or not _PLAIN.fullmatch(name) or "=?" in name:
        return _FOLD.join(_encoded_words(name))
    return quote_name(name)
