"""The bytes of uploaded files on disk, under `DISPATCH_ASSETS_PATH`.

Every name is made here (`new_name`: 32 random hex digits) and checked here before it
becomes a path, so nothing a client sends is ever part of one. A file is written to a
temporary name in its final directory and renamed into place, so a reader sees all of it or
nothing.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio

_NAME = re.compile(r"[0-9a-f]{32}")
CHUNK_BYTES = 64 * 1024


class MissingBytes(Exception):
    """The record names bytes that are not on disk."""


def new_name() -> str:
    return secrets.token_hex(16)


class AssetStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_of(self, name: str) -> Path:
        if _NAME.fullmatch(name) is None:
            raise ValueError("not a name this store made")
        return self.root / name[:2] / name

    def write(self, name: str, data: bytes) -> None:
        """Store `data` under `name`, atomically (a temporary file renamed into place)."""
        final = self.path_of(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def open(self, name: str) -> BinaryIO:
        try:
            return self.path_of(name).open("rb")
        except FileNotFoundError:
            raise MissingBytes(name) from None

    def remove(self, name: str) -> None:
        self.path_of(name).unlink(missing_ok=True)


async def chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    """An open file's bytes, read off the event loop; the file is closed at the end."""
    try:
        while chunk := await anyio.to_thread.run_sync(file.read, CHUNK_BYTES):
            yield chunk
    finally:
        file.close()
