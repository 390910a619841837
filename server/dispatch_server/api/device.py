"""Legacy `/device`: the signed-in operator's devices (a name, a platform, a push token),
created, read, changed and deleted one by one, or changed several at once with a batch
(`PATCH /device`): all or nothing, the error naming the item at fault (`devices[2].name`).

Another operator's device is a 404, as an unknown one is.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.core.clock import utcnow
from dispatch_server.domain import devices
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field, project

_PLATFORMS = list(devices.PLATFORMS)


@attrs.frozen(kw_only=True)
class Device:
    id: str
    name: str
    platform: str = field(enum=_PLATFORMS)
    push_token: str | None = field(description="where the platform's push service reaches it")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, device: devices.Device) -> Device:
        return project(cls, device)


@attrs.frozen(kw_only=True)
class DeviceList:
    """All the operator's devices (at most 100), oldest first."""

    data: tuple[Device, ...]

    @classmethod
    def of(cls, found: list[devices.Device]) -> DeviceList:
        return cls(data=tuple(Device.of(device) for device in found))


@attrs.frozen(kw_only=True)
class DeviceCreate:
    name: str = field(description="1 to 100 characters")
    platform: str = field(enum=_PLATFORMS)
    push_token: str | None = field(default=None, description="up to 512 printable characters")


@attrs.frozen(kw_only=True)
class DeviceUpdate:
    """Fields left out are kept; an empty `push_token` clears it."""

    name: str | None = None
    platform: str | None = field(default=None, enum=_PLATFORMS)
    push_token: str | None = None


@attrs.frozen(kw_only=True)
class DeviceBatchItem:
    """One device's change: its id, and the fields to change (as in `PATCH /device/{id}`)."""

    id: str
    name: str | None = None
    platform: str | None = field(default=None, enum=_PLATFORMS)
    push_token: str | None = None


@attrs.frozen(kw_only=True)
class DeviceBatch:
    devices: tuple[DeviceBatchItem, ...] = field(
        minItems=1, maxItems=devices.MAX_BATCH, description="each device once"
    )


async def list_devices(call: Call[None]) -> DeviceList:
    found = await call.services.db.run_read(devices.list_devices, call.operator.operator_id)
    return DeviceList.of(found)


async def create_device(call: Call[DeviceCreate]) -> Device:
    created = await call.services.db.run_write(
        devices.create_device,
        call.operator.operator_id,
        name=call.body.name,
        platform=call.body.platform,
        push_token=call.body.push_token,
        now=utcnow(),
    )
    return Device.of(created)


async def get_device(call: Call[None]) -> Device:
    found = await call.services.db.run_read(
        devices.get_device, call.operator.operator_id, call.path("device_id")
    )
    return Device.of(found)


async def update_device(call: Call[DeviceUpdate]) -> Device:
    change = devices.DeviceChange(id=call.path("device_id"), **attrs.asdict(call.body))
    updated = await call.services.db.run_write(
        devices.update_device, call.operator.operator_id, change, now=utcnow()
    )
    return Device.of(updated)


async def update_devices(call: Call[DeviceBatch]) -> DeviceList:
    changes = [devices.DeviceChange(**attrs.asdict(item)) for item in call.body.devices]
    updated = await call.services.db.run_write(
        devices.update_devices, call.operator.operator_id, changes, now=utcnow()
    )
    return DeviceList.of(updated)


async def delete_device(call: Call[None]) -> Device:
    deleted = await call.services.db.run_write(
        devices.delete_device, call.operator.operator_id, call.path("device_id")
    )
    return Device.of(deleted)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/device",
        handler=list_devices,
        summary="Legacy: the operator's devices",
        scope=None,
        operator=True,
        response=DeviceList,
    ),
    Endpoint(
        method="POST",
        path="/device",
        handler=create_device,
        summary="Legacy: add a device",
        scope=None,
        operator=True,
        body=DeviceCreate,
        response=Device,
        status=201,
    ),
    Endpoint(
        method="PATCH",
        path="/device",
        handler=update_devices,
        summary="Legacy: change several devices at once, all or nothing",
        description="A bad item (unknown id, named twice, a bad field) refuses the whole "
        "batch; `param` names it: `devices[2].name`.",
        scope=None,
        operator=True,
        body=DeviceBatch,
        response=DeviceList,
    ),
    Endpoint(
        method="GET",
        path="/device/{device_id}",
        handler=get_device,
        summary="Legacy: one of the operator's devices",
        scope=None,
        operator=True,
        response=Device,
    ),
    Endpoint(
        method="PATCH",
        path="/device/{device_id}",
        handler=update_device,
        summary="Legacy: change a device",
        scope=None,
        operator=True,
        body=DeviceUpdate,
        response=Device,
    ),
    Endpoint(
        method="DELETE",
        path="/device/{device_id}",
        handler=delete_device,
        summary="Legacy: delete a device",
        scope=None,
        operator=True,
        response=Device,
    ),
]
