"""Legacy `/user`: the signed-in operator's profile (display name, time zone) and profile
picture.

The picture is uploaded as the raw request body with its `Content-Type` (`PUT /user/picture`),
not as multipart: one file and one header to check, no part headers or client file names to
parse, and the size limit applies while the body streams in. The type must be allowed
(`DISPATCH_UPLOAD_CONTENT_TYPES`) and the bytes' magic numbers must agree with it. The bytes
are on disk before their record is committed; when the commit fails they are removed again,
and the picture they replace is removed once the new one is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime

import attrs

from dispatch_server.api.file import FileInfo
from dispatch_server.assets.sniff import media_type, sniff
from dispatch_server.assets.store import new_name
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, TooLarge
from dispatch_server.domain import files, profiles
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.params import read_body
from dispatch_server.http.shapes import field
from dispatch_server.services import Services


class FileTooLarge(TooLarge):
    code = ErrorCode.FILE_TOO_LARGE


class UnsupportedMediaType(DomainError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class ContentMismatch(DomainError):
    code = ErrorCode.FILE_CONTENT_MISMATCH


@attrs.frozen(kw_only=True)
class Profile:
    id: str = field(description="the operator's id")
    email: str
    email_verified: bool
    display_name: str | None
    timezone: str | None = field(description="an IANA time zone name: `Europe/Paris`")
    picture: FileInfo | None = field(description="the profile picture, served by `/file`")
    updated_at: datetime | None = field(description="null until the profile is first changed")

    @classmethod
    def of(cls, profile: profiles.Profile) -> Profile:
        operator = profile.operator
        return cls(
            id=operator.id,
            email=operator.email,
            email_verified=operator.email_verified,
            display_name=profile.display_name,
            timezone=profile.timezone,
            picture=FileInfo.of(profile.picture) if profile.picture else None,
            updated_at=profile.updated_at,
        )


@attrs.frozen(kw_only=True)
class ProfileUpdate:
    """Fields left out are kept; an empty string clears one."""

    display_name: str | None = field(default=None, maxLength=profiles.MAX_DISPLAY_NAME_CHARS)
    timezone: str | None = field(default=None, maxLength=64)


async def get_user(call: Call[None]) -> Profile:
    profile = await call.services.db.run_read(profiles.get_profile, call.operator.operator_id)
    return Profile.of(profile)


async def update_user(call: Call[ProfileUpdate]) -> Profile:
    profile = await call.services.db.run_write(
        profiles.update_profile,
        call.operator.operator_id,
        display_name=call.body.display_name,
        timezone=call.body.timezone,
        now=utcnow(),
    )
    return Profile.of(profile)


async def upload_picture(call: Call[None]) -> Profile:
    settings = call.services.settings.assets
    declared = media_type(call.request.headers.get("content-type"))
    if declared not in settings.content_types:
        raise UnsupportedMediaType(
            f"Content-Type must be one of {', '.join(settings.content_types)}"
        )
    limit = settings.max_upload_bytes
    data = await read_body(
        call.request, limit=limit, too_large=FileTooLarge(f"a picture is limited to {limit} bytes")
    )
    if sniff(data) != declared:
        raise ContentMismatch(f"the bytes are not {declared}")
    new = files.NewFile(
        purpose=files.PROFILE_PICTURE,
        content_type=declared,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_name=new_name(),
    )
    store = call.services.assets
    await asyncio.to_thread(store.write, new.storage_name, data)
    try:
        change = await call.services.db.run_write(
            profiles.set_picture, call.operator.operator_id, new, now=utcnow()
        )
    except Exception:  # not on cancellation: the write may still commit, and need its bytes
        await asyncio.to_thread(store.remove, new.storage_name)
        raise
    await _release(call.services, change.released_storage_name)
    return Profile.of(change.profile)


async def remove_picture(call: Call[None]) -> Profile:
    change = await call.services.db.run_write(
        profiles.remove_picture, call.operator.operator_id, now=utcnow()
    )
    await _release(call.services, change.released_storage_name)
    return Profile.of(change.profile)


async def _release(services: Services, storage_name: str | None) -> None:
    if storage_name is not None:
        await asyncio.to_thread(services.assets.remove, storage_name)


_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "the image's bytes, with their `Content-Type`",
        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}

ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/user",
        handler=get_user,
        summary="Legacy: the signed-in operator's profile",
        scope=None,
        operator=True,
        response=Profile,
    ),
    Endpoint(
        method="PATCH",
        path="/user",
        handler=update_user,
        summary="Legacy: change the operator's display name or time zone",
        scope=None,
        operator=True,
        body=ProfileUpdate,
        response=Profile,
    ),
    Endpoint(
        method="PUT",
        path="/user/picture",
        handler=upload_picture,
        summary="Legacy: upload the operator's profile picture (the raw image as the body)",
        description="Replaces the picture there was. The type is checked against the bytes.",
        scope=None,
        operator=True,
        response=Profile,
        openapi_extra=_IMAGE_BODY,
    ),
    Endpoint(
        method="DELETE",
        path="/user/picture",
        handler=remove_picture,
        summary="Legacy: remove the operator's profile picture (its file too)",
        scope=None,
        operator=True,
        response=Profile,
    ),
]
