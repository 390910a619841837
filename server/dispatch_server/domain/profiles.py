"""Operators' profiles (legacy `/user`): a display name, a time zone and a profile picture,
kept beside the account (users) in user_profiles, whose row is made on the first change.

In an update, None leaves a field as it is and an empty string clears it.
"""

from __future__ import annotations

import functools
import unicodedata
import zoneinfo
from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import InvalidInput
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.domain import files, operators

MAX_DISPLAY_NAME_CHARS = 100


@attrs.frozen(kw_only=True)
class Profile:
    operator: operators.Operator
    display_name: str | None
    timezone: str | None
    picture: files.FileRecord | None
    updated_at: datetime | None  # None: never changed


@attrs.frozen(kw_only=True)
class PictureChange:
    """The profile after a new or removed picture, and the bytes no record names any more."""

    profile: Profile
    released_storage_name: str | None


_ENSURE_ROW = dialect.per_dialect(
    lambda insert: insert(t.user_profiles).on_conflict_do_nothing(index_elements=["user_id"])
)


def get_profile(conn: sa.Connection, operator_id: str) -> Profile:
    operator = operators.get_operator(conn, operator_id)
    row = conn.execute(
        sa.select(t.user_profiles).where(t.user_profiles.c.user_id == operator_id)
    ).first()
    if row is None:
        return Profile(
            operator=operator, display_name=None, timezone=None, picture=None, updated_at=None
        )
    picture = None
    if row.picture_file_id is not None:
        picture = files.find_file(conn, row.picture_file_id)
    return Profile(
        operator=operator,
        display_name=row.display_name,
        timezone=row.timezone,
        picture=picture,
        updated_at=row.updated_at,
    )


def update_profile(
    conn: sa.Connection,
    operator_id: str,
    *,
    display_name: str | None,
    timezone: str | None,
    now: datetime,
) -> Profile:
    changes: dict[str, str | None] = {}
    if display_name is not None:
        changes["display_name"] = _display_name(display_name)
    if timezone is not None:
        changes["timezone"] = _timezone(timezone)
    if changes:
        _ensure_row(conn, operator_id, now)
        conn.execute(
            t.user_profiles.update()
            .where(t.user_profiles.c.user_id == operator_id)
            .values(**changes, updated_at=now)
        )
    return get_profile(conn, operator_id)


def set_picture(
    conn: sa.Connection, operator_id: str, new: files.NewFile, *, now: datetime
) -> PictureChange:
    """Record `new` as the operator's picture; the one it replaces is deleted."""
    previous = _lock_picture(conn, operator_id, now)
    record = files.insert_file(conn, operator_id, new, now=now)
    _point_at(conn, operator_id, record.id, now)
    return PictureChange(
        profile=get_profile(conn, operator_id), released_storage_name=_drop(conn, previous)
    )


def remove_picture(conn: sa.Connection, operator_id: str, *, now: datetime) -> PictureChange:
    previous = _lock_picture(conn, operator_id, now)
    if previous is not None:
        _point_at(conn, operator_id, None, now)
    return PictureChange(
        profile=get_profile(conn, operator_id), released_storage_name=_drop(conn, previous)
    )


def _ensure_row(conn: sa.Connection, operator_id: str, now: datetime) -> None:
    operators.get_operator(conn, operator_id)
    conn.execute(_ENSURE_ROW[dialect.name(conn)].values(user_id=operator_id, updated_at=now))


def _lock_picture(conn: sa.Connection, operator_id: str, now: datetime) -> str | None:
    """The id of the current picture, with the profile row locked until the transaction ends
    (two uploads at once then replace one another in turn)."""
    _ensure_row(conn, operator_id, now)
    return conn.scalar(
        sa.select(t.user_profiles.c.picture_file_id)
        .where(t.user_profiles.c.user_id == operator_id)
        .with_for_update()
    )


def _point_at(conn: sa.Connection, operator_id: str, file_id: str | None, now: datetime) -> None:
    conn.execute(
        t.user_profiles.update()
        .where(t.user_profiles.c.user_id == operator_id)
        .values(picture_file_id=file_id, updated_at=now)
    )


def _drop(conn: sa.Connection, file_id: str | None) -> str | None:
    """Delete a file record; the storage name of its bytes, for the caller to remove."""
    if file_id is None:
        return None
    record = files.find_file(conn, file_id)
    conn.execute(t.files.delete().where(t.files.c.id == file_id))
    return None if record is None else record.storage_name


def _display_name(value: str) -> str | None:
    name = value.strip()
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidInput(
            f"display_name must be at most {MAX_DISPLAY_NAME_CHARS} characters",
            param="display_name",
        )
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidInput("display_name must not hold control characters", param="display_name")
    return name or None


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> str | None:
    if not value:
        return None
    # Looked up in the list, never opened by name: the name is never part of a path.
    if value not in _timezones():
        raise InvalidInput(
            "timezone must be an IANA time zone name such as Europe/Paris", param="timezone"
        )
    return value
