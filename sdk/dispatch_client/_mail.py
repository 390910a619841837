"""Request bodies of the calls that send mail: recipients, headers and attachments, checked
before anything is sent."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

from dispatch_client._core import JSON
from dispatch_client._errors import InvalidArgumentError
from dispatch_client.types.sent import OutgoingAttachment

# What `attachments=` takes: an OutgoingAttachment, or (filename, content).
AttachmentInput = OutgoingAttachment | tuple[str, bytes]


def addresses(value: str | Sequence[str] | None, name: str) -> list[str] | None:
    """`value` as the JSON list of addresses the server takes: one string is one address."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes | bytearray) or not isinstance(value, Sequence):
        raise InvalidArgumentError(
            f"{name} must be an address or a list of addresses, not {type(value).__name__}",
            param=name,
        )
    for item in value:
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"{name} must hold address strings, not {type(item).__name__}", param=name
            )
    return list(value)


def headers(value: Mapping[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgumentError(
            "headers must map header names to values, both strings", param="headers"
        )
    return dict(value)


def attachments(value: Sequence[AttachmentInput] | None) -> list[JSON] | None:
    """The attachments as the server takes them, their content in base64."""
    if value is None:
        return None
    one = isinstance(value, OutgoingAttachment) or (
        isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
    )
    if one or isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise InvalidArgumentError(
            "attachments must be a list of OutgoingAttachment or (filename, content) tuples, "
            f"not {_describe(value)}",
            param="attachments",
        )
    return [_attachment(item) for item in value]


def _attachment(item: object) -> JSON:
    if isinstance(item, tuple) and len(item) == 2:
        filename, content = item
        if isinstance(filename, str) and isinstance(content, bytes | bytearray | memoryview):
            item = OutgoingAttachment(filename, bytes(content))
    if not isinstance(item, OutgoingAttachment):
        raise InvalidArgumentError(
            "each attachment must be an OutgoingAttachment or a (filename, content) tuple "
            f"with content in bytes, not {_describe(item)}",
            param="attachments",
        )
    if not isinstance(item.content, bytes | bytearray | memoryview):
        raise InvalidArgumentError(
            f"the content of attachment {item.filename!r} must be bytes, "
            f"not {type(item.content).__name__}",
            param="attachments",
        )
    return {
        "filename": item.filename,
        "content": base64.b64encode(item.content).decode("ascii"),
        "content_type": item.content_type,
    }


def _describe(item: object) -> str:
    if isinstance(item, tuple):
        kinds = ", ".join(type(part).__name__ for part in item)
        return f"a tuple of ({kinds})"
    return type(item).__name__
