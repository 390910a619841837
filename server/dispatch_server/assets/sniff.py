"""What an upload's bytes are, from their magic numbers: the one list of the file types the
server takes, so a Content-Type header cannot pass off other bytes as an image."""

from __future__ import annotations

from collections.abc import Callable


def _png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")


def _jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8\xff")


def _gif(data: bytes) -> bool:
    return data.startswith((b"GIF87a", b"GIF89a"))


def _webp(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"


SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/png": _png,
    "image/jpeg": _jpeg,
    "image/gif": _gif,
    "image/webp": _webp,
}
KNOWN_TYPES = tuple(SIGNATURES)


def media_type(header: str | None) -> str:
    """A Content-Type header's media type, lower-case, without its parameters."""
    return (header or "").partition(";")[0].strip().lower()


def sniff(data: bytes) -> str | None:
    """The media type the bytes are, by their magic numbers; None when none matches."""
    for name, matches in SIGNATURES.items():
        if matches(data):
            return name
    return None
