"""Operators' devices (legacy `/device`): a name, a platform and a push token each, at most
`MAX_DEVICES` per operator. A batch update changes several at once, all or nothing; its
errors name the item at fault (`devices[2].name`).

In an update, None leaves a field as it is; for `push_token`, an empty string clears it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.db import tables as t

MAX_DEVICES = 100
MAX_BATCH = MAX_DEVICES
MAX_NAME_CHARS = 100
MAX_PUSH_TOKEN_CHARS = 512
PLATFORMS = ("ios", "android", "web", "macos", "windows", "linux")


class DeviceLimitReached(DomainError):
    code = ErrorCode.DEVICE_LIMIT_REACHED


@attrs.frozen(kw_only=True)
class Device:
    id: str
    owner_id: str
    name: str
    platform: str
    push_token: str | None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class DeviceChange:
    id: str
    name: str | None = None
    platform: str | None = None
    push_token: str | None = None


def list_devices(conn: sa.Connection, owner_id: str) -> list[Device]:
    rows = conn.execute(
        sa.select(t.devices)
        .where(t.devices.c.owner_id == owner_id)
        .order_by(t.devices.c.created_at, t.devices.c.id)
    )
    return [Device(**row._mapping) for row in rows]


def get_device(conn: sa.Connection, owner_id: str, device_id: str) -> Device:
    """The operator's device; another operator's is NotFound, as an unknown one is."""
    row = conn.execute(
        sa.select(t.devices).where(t.devices.c.id == device_id, t.devices.c.owner_id == owner_id)
    ).first()
    if row is None:
        raise NotFound("device")
    return Device(**row._mapping)


def create_device(
    conn: sa.Connection,
    owner_id: str,
    *,
    name: str,
    platform: str,
    push_token: str | None,
    now: datetime,
) -> Device:
    # Locking the account serializes an operator's creations, so the count holds.
    owner = conn.scalar(sa.select(t.users.c.id).where(t.users.c.id == owner_id).with_for_update())
    if owner is None:
        raise NotFound("operator")
    count = conn.scalar(
        sa.select(sa.func.count()).select_from(t.devices).where(t.devices.c.owner_id == owner_id)
    )
    if (count or 0) >= MAX_DEVICES:
        raise DeviceLimitReached(f"an operator has at most {MAX_DEVICES} devices")
    device = Device(
        id=new_id(),
        owner_id=owner_id,
        name=_name(name, "name"),
        platform=_platform(platform, "platform"),
        push_token=_push_token(push_token, "push_token") if push_token else None,
        created_at=now,
        updated_at=now,
    )
    conn.execute(t.devices.insert().values(**attrs.asdict(device)))
    return device


def update_device(
    conn: sa.Connection, owner_id: str, change: DeviceChange, *, now: datetime
) -> Device:
    (updated,) = _apply(conn, owner_id, [change], now=now, where=lambda _index: "")
    return updated


def update_devices(
    conn: sa.Connection, owner_id: str, changes: Sequence[DeviceChange], *, now: datetime
) -> list[Device]:
    """Apply every change or none: the first bad item is refused, naming it, and the
    transaction (with any change already made) rolls back."""
    if not changes:
        raise InvalidInput("devices must have at least 1 item", param="devices")
    if len(changes) > MAX_BATCH:
        raise InvalidInput(f"devices must have at most {MAX_BATCH} items", param="devices")
    return _apply(conn, owner_id, changes, now=now, where=lambda index: f"devices[{index}].")


def delete_device(conn: sa.Connection, owner_id: str, device_id: str) -> Device:
    device = get_device(conn, owner_id, device_id)
    conn.execute(t.devices.delete().where(t.devices.c.id == device_id))
    return device


def _apply(
    conn: sa.Connection,
    owner_id: str,
    changes: Sequence[DeviceChange],
    *,
    now: datetime,
    where: Callable[[int], str],
) -> list[Device]:
    seen: set[str] = set()
    values: list[dict[str, str | None]] = []
    for index, change in enumerate(changes):
        prefix = where(index)
        if change.id in seen:
            raise InvalidInput(f"device {change.id} is named twice", param=f"{prefix}id")
        seen.add(change.id)
        values.append(_values(change, prefix))
    owned = set(
        conn.scalars(
            sa.select(t.devices.c.id).where(
                t.devices.c.owner_id == owner_id, t.devices.c.id.in_(seen)
            )
        )
    )
    for index, change in enumerate(changes):
        if change.id not in owned:
            prefix = where(index)
            raise DomainError(
                f"{prefix}id: device not found" if prefix else "device not found",
                code=ErrorCode.NOT_FOUND,
                param=f"{prefix}id" if prefix else None,
            )
    for change, new in zip(changes, values, strict=True):
        conn.execute(
            t.devices.update()
            .where(t.devices.c.id == change.id, t.devices.c.owner_id == owner_id)
            .values(**new, updated_at=now)
        )
    return [get_device(conn, owner_id, change.id) for change in changes]


def _values(change: DeviceChange, prefix: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    if change.name is not None:
        values["name"] = _name(change.name, f"{prefix}name")
    if change.platform is not None:
        values["platform"] = _platform(change.platform, f"{prefix}platform")
    if change.push_token is not None:
        token = change.push_token
        values["push_token"] = _push_token(token, f"{prefix}push_token") if token else None
    return values


def _name(value: str, param: str) -> str:
    name = value.strip()
    if not name:
        raise InvalidInput(f"{param} must not be blank", param=param)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"{param} must be at most {MAX_NAME_CHARS} characters", param=param)
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidInput(f"{param} must not hold control characters", param=param)
    return name


def _platform(value: str, param: str) -> str:
    if value not in PLATFORMS:
        raise InvalidInput(f"{param} must be one of {', '.join(PLATFORMS)}", param=param)
    return value


def _push_token(value: str, param: str) -> str:
    if len(value) > MAX_PUSH_TOKEN_CHARS:
        raise InvalidInput(
            f"{param} must be at most {MAX_PUSH_TOKEN_CHARS} characters", param=param
        )
    if not value.isascii() or not value.isprintable() or " " in value:
        raise InvalidInput(f"{param} must be printable ASCII without spaces", param=param)
    return value
