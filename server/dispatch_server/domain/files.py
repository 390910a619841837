"""Uploaded files' records: one per file, owned by one operator. The bytes are on disk
(dispatch_server.assets.store) under the record's `storage_name`; these functions never touch
them, so a transaction that rolls back leaves the disk as it was."""

from __future__ import annotations

from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.db import tables as t

PROFILE_PICTURE = "profile_picture"


@attrs.frozen(kw_only=True)
class NewFile:
    """Bytes already written under `storage_name`, to record."""

    purpose: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_name: str


@attrs.frozen(kw_only=True)
class FileRecord:
    id: str
    owner_id: str
    purpose: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_name: str
    created_at: datetime


def insert_file(conn: sa.Connection, owner_id: str, new: NewFile, *, now: datetime) -> FileRecord:
    record = FileRecord(id=new_id(), owner_id=owner_id, created_at=now, **attrs.asdict(new))
    conn.execute(t.files.insert().values(**attrs.asdict(record)))
    return record


def find_file(conn: sa.Connection, file_id: str) -> FileRecord | None:
    row = conn.execute(sa.select(t.files).where(t.files.c.id == file_id)).first()
    return None if row is None else FileRecord(**row._mapping)


def get_file(conn: sa.Connection, owner_id: str, file_id: str) -> FileRecord:
    """The operator's file; another operator's is NotFound, as an unknown one is."""
    found = find_file(conn, file_id)
    if found is None or found.owner_id != owner_id:
        raise NotFound("file")
    return found


def delete_file(conn: sa.Connection, owner_id: str, file_id: str) -> FileRecord:
    """Delete the operator's file record (a profile picture stops being one); the caller
    removes its bytes once this commits."""
    found = get_file(conn, owner_id, file_id)
    conn.execute(
        t.user_profiles.update()
        .where(t.user_profiles.c.picture_file_id == file_id)
        .values(picture_file_id=None)
    )
    conn.execute(t.files.delete().where(t.files.c.id == file_id))
    return found
