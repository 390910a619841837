"""Received attachments: file names safe to save under, and bodies decoded piece by piece
from their transfer encoding (base64, quoted-printable, or as written), so a download reads
the raw message in chunks instead of whole."""

from __future__ import annotations

import binascii
import re
import unicodedata
from typing import Protocol

from dispatch_server.mail.parse import decode_words, storable

__all__ = ["MAX_FILENAME_BYTES", "Decoder", "decoder", "safe_filename"]

# What file systems take (ext4, APFS, NTFS: 255), counted in UTF-8 bytes.
MAX_FILENAME_BYTES = 255
# Windows refuses these as a name's stem, whatever the extension ("con.txt" too).
_RESERVED_STEMS = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in "0123456789¹²³"}
    | {f"lpt{n}" for n in "0123456789¹²³"}
)
# Characters Windows refuses in a name, and the path separators of every system.
_FORBIDDEN = re.compile(r'[<>:"|?*\\/]')
# Control (Cc), format (Cf: bidi overrides and isolates, zero-width characters), surrogate
# (Cs), private use (Co) and unassigned (Cn) code points: nothing a name should show or hide.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def safe_filename(name: str | None, position: int) -> str:
    """A name to save an attachment under: encoded-words (RFC 2047, which mailers use
    against RFC 2231) decoded, only its last path component, without control, format or
    bidi characters, characters Windows refuses made `_`, leading and trailing dots and
    spaces dropped, a reserved device name (CON, NUL, COM1...) prefixed with `_`, at most
    MAX_FILENAME_BYTES keeping the extension. `attachment-<position + 1>` without a name
    (or when nothing is left of it)."""
    fallback = f"attachment-{position + 1}"
    if not name:
        return fallback
    text = unicodedata.normalize("NFC", storable(decode_words(name)))
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(
        " " if char in "\t\r\n" else char
        for char in text
        if char in "\t\r\n" or unicodedata.category(char) not in _HIDDEN_CATEGORIES
    )
    text = _FORBIDDEN.sub("_", " ".join(text.split())).strip(" .")
    if not text:
        return fallback
    if text.split(".")[0].strip().lower() in _RESERVED_STEMS:
        text = "_" + text
    return _within(text, MAX_FILENAME_BYTES)


def _within(text: str, limit: int) -> str:
    if len(text.encode()) <= limit:
        return text
    stem, dot, extension = text.rpartition(".")
    if not dot or len(extension.encode()) > 16:
        stem, dot, extension = text, "", ""
    room = limit - len(extension.encode()) - len(dot)
    cut = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .")
    return f"{cut}{dot}{extension}" if extension else cut


class Decoder(Protocol):
    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes of `chunk` that can be decoded yet (some may wait for more)."""

    def end(self) -> bytes:
        """What was left once the last chunk was fed."""


def decoder(encoding: str) -> Decoder:
    """A decoder for a stored transfer encoding: any but base64 and quoted-printable is the
    body as written (see `mail.parse.WHOLE_ENCODINGS`)."""
    if encoding == "base64":
        return _Base64()
    if encoding == "quoted-printable":
        return _QuotedPrintable()
    return _AsWritten()


class _AsWritten:
    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def end(self) -> bytes:
        return b""


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
_PADDING = re.compile(rb"=+")


class _Base64:
    """Base64 as the email package's lenient decoding reads it (binascii's non-strict
    `a2b_base64`): anything outside the alphabet skipped (line ends, junk), a lone `=` too,
    but once padding completes a group of four the rest is ignored (a signature or a second
    body after it); a last group of two or three characters padded. (One character too
    many, which the email package returns undecoded, is never ranged: see mail.parse.)"""

    def __init__(self) -> None:
        self._rest = b""  # alphabet characters of the group not yet complete
        self._pads = 0  # `=` since the last alphabet character, once two of a group came
        self._done = False

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return b""
        data = _NOT_BASE64.sub(b"", chunk)
        if b"=" in data:
            data = self._until_padded(data)
        elif data:
            self._pads = 0
        data = self._rest + data
        cut = len(data) // 4 * 4
        self._rest = data[cut:]
        decoded = binascii.a2b_base64(data[:cut])
        if self._done:
            return decoded + self._partial()
        return decoded

    def _until_padded(self, data: bytes) -> bytes:
        """The alphabet characters of `data` up to where padding ends the decoding (setting
        `_done` there), its `=` left out."""
        kept: list[bytes] = []
        count = len(self._rest)
        at = 0
        for run in _PADDING.finditer(data):
            if run.start() > at:
                kept.append(data[at : run.start()])
                count += run.start() - at
                self._pads = 0
            at = run.end()
            if count % 4 >= 2:
                self._pads += run.end() - run.start()
                if count % 4 + self._pads >= 4:
                    self._done = True
                    return b"".join(kept)
        kept.append(data[at:])
        return b"".join(kept)

    def _partial(self) -> bytes:
        rest, self._rest = self._rest, b""
        if len(rest) < 2:
            return b""  # one character holds no whole byte
        return binascii.a2b_base64(rest + b"=" * (4 - len(rest)))

    def end(self) -> bytes:
        if self._done:
            return b""
        return self._partial()


# A line of quoted-printable is at most 76 characters; a longer run without a line end is
# decoded in pieces of this size, cut before an escape.
_QP_PIECE = 64 * 1024


class _QuotedPrintable:
    """Quoted-printable line by line (an escape or a soft line break never spans a line
    end), as `quopri.decodestring` reads it."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > _QP_PIECE:
            escape = data.rfind(b"=", len(data) - 2)
            cut = escape if escape >= 0 else len(data)
        self._rest = data[cut:]
        return binascii.a2b_qp(data[:cut])

    def end(self) -> bytes:
        rest, self._rest = self._rest, b""
        return binascii.a2b_qp(rest)
