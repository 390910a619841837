"""Legacy `/file`: an operator's uploaded files, served and deleted only for their owner.

Another operator's file is a 404, as an unknown one is, so ids cannot be probed. A record
whose bytes are gone from disk is a 404 too. The bytes are read by the record's server-made
storage name (dispatch_server.assets.store); the id in the URL only finds the record.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import attrs
from starlette.responses import Response, StreamingResponse

from dispatch_server.assets.store import MissingBytes, chunks
from dispatch_server.core.errors import NotFound
from dispatch_server.domain import files
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field, project

# A served file is only ever shown as what it is, and nothing in it runs.
_SERVED_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "content-disposition": "inline",
    "cache-control": "private, no-cache",
}


@attrs.frozen(kw_only=True)
class FileInfo:
    id: str
    content_type: str = field(description="checked against the bytes when uploaded")
    size_bytes: int
    sha256: str = field(description="of the bytes, in hex")
    url: str = field(description="where the owner reads it: `GET /file/{id}` with their token")
    created_at: datetime

    @classmethod
    def of(cls, record: files.FileRecord) -> FileInfo:
        return project(cls, record, url=f"/file/{record.id}")


async def serve_file(call: Call[None]) -> Response:
    record = await call.services.db.run_read(
        files.get_file, call.operator.operator_id, call.path("file_id")
    )
    try:
        opened = await asyncio.to_thread(call.services.assets.open, record.storage_name)
    except MissingBytes:
        raise NotFound("file") from None
    return StreamingResponse(
        chunks(opened),
        media_type=record.content_type,
        headers={"content-length": str(record.size_bytes), **_SERVED_HEADERS},
    )


async def delete_file(call: Call[None]) -> FileInfo:
    record = await call.services.db.run_write(
        files.delete_file, call.operator.operator_id, call.path("file_id")
    )
    await asyncio.to_thread(call.services.assets.remove, record.storage_name)
    return FileInfo.of(record)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/file/{file_id}",
        handler=serve_file,
        summary="Legacy: the bytes of one of the operator's files, with their content type",
        scope=None,
        operator=True,
        openapi_extra={
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
                }
            }
        },
    ),
    Endpoint(
        method="DELETE",
        path="/file/{file_id}",
        handler=delete_file,
        summary="Legacy: delete one of the operator's files, its record and its bytes",
        scope=None,
        operator=True,
        response=FileInfo,
    ),
]
