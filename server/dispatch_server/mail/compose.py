"""Composing RFC 5322 messages from fields. No caller-supplied text becomes a header line
except through the email package's checks (which refuse CR/LF in values)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from dispatch_server.core.errors import InvalidInput

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322: printable ASCII except ":"
# Set from the body, never by a caller.
_BODY_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


def compose(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str | None,
    html: str | None,
    headers: Mapping[str, str],
    message_id_domain: str,
) -> bytes:
    """A text and/or HTML message. `headers` replace the defaults they name (Date,
    Message-ID, To...); a name or value the email package refuses is an InvalidInput naming
    `headers`."""
    message = EmailMessage()
    _set(message, "From", sender, "from")
    _set(message, "To", ", ".join(to), "to")
    _set(message, "Subject", subject, "subject")
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=message_id_domain)
    for name, value in headers.items():
        _check_header_name(name)
        del message[name]
        _set(message, name, value, "headers")
    if text:
        message.set_content(text)
    if html:
        if text:
            message.add_alternative(html, subtype="html")
        else:
            message.set_content(html, subtype="html")
    return message.as_bytes()


def _check_header_name(name: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise InvalidInput(f"header name {name!r} is not a valid field name", param="headers")
    if name.lower() in _BODY_HEADERS:
        raise InvalidInput(f"header {name!r} is set from text and html", param="headers")


def _set(message: EmailMessage, name: str, value: str, param: str) -> None:
    try:
        message[name] = value
    except (ValueError, TypeError, IndexError) as exc:  # line breaks, bad names, bad syntax
        raise InvalidInput(f"header {name!r}: {exc}", param=param) from None
