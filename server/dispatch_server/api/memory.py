"""Memory: an inbox's small key/value notes, kept as mail it sends itself (subject = key,
text = value). Writing goes through the one send path (quotas, the outbound provider);
reading sees only what the inbox wrote itself (see dispatch_server.domain.memory)."""

from __future__ import annotations

from datetime import datetime

import attrs

from dispatch_server.api.artifacts import retention_cutoff
from dispatch_server.api.sends import send_from
from dispatch_server.auth.principal import Scope
from dispatch_server.core.errors import InvalidInput, NotFound
from dispatch_server.core.text import CONTROL
from dispatch_server.domain import memory, sends
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, field, project

MAX_VALUE_CHARS = 64 * 1024
CURSOR = params.page_cursor("memory")
KEY = params.text("key", description="the key: the exact subject of the writes")


@attrs.frozen(kw_only=True)
class WriteMemory:
    key: str = field(
        maxLength=sends.MAX_MEMORY_KEY_CHARS, description="the key, sent as the subject"
    )
    value: str = field(maxLength=MAX_VALUE_CHARS, description="the value, sent as the text")


@attrs.frozen(kw_only=True)
class MemoryEntry:
    """One value written for a key."""

    key: str
    value: str
    written_at: datetime
    sent_id: str = field(description="the sent message that wrote it")

    @classmethod
    def of(cls, entry: memory.MemoryEntry) -> MemoryEntry:
        return project(cls, entry)


@attrs.frozen(kw_only=True)
class MemoryKey:
    key: str
    updated_at: datetime


@attrs.frozen(kw_only=True)
class MemoryKeys:
    data: tuple[MemoryKey, ...] = field(
        description=f"most recently written first, at most {memory.MAX_KEYS}"
    )


def _key(call: Call[None]) -> str:
    key = call.query(KEY)
    if not key:
        raise InvalidInput("give the key", param="key")
    return key


async def write(call: Call[WriteMemory]) -> MemoryEntry:
    inbox_id, key, value = call.path("inbox_id"), call.body.key, call.body.value
    # Checked here, or the send would name its own fields (subject, text).
    if not key.strip():
        raise InvalidInput("the key must not be blank", param="key")
    control = CONTROL.search(key)
    if control:
        raise InvalidInput(
            f"the key holds the control character U+{ord(control.group()):04X}", param="key"
        )
    if not value:
        raise InvalidInput("the value must not be empty", param="value")
    sender = await call.services.db.run_read(sends.sender_of, call.principal.workspace_id, inbox_id)
    fields = sends.SendFields(to=(sender.address,), subject=key, text=value)
    sent = await send_from(call.services, call.principal, inbox_id, fields)
    if sent.status in memory.NOT_KEPT:
        raise InvalidInput(
            f"the write was not kept: {sent.last_error or sent.status}", param="value"
        )
    return MemoryEntry(key=key, value=value, written_at=sent.created_at, sent_id=sent.id)


async def read(call: Call[None]) -> MemoryEntry:
    entry = await call.services.db.run_read(
        memory.read, call.path("inbox_id"), _key(call), cutoff=retention_cutoff(call)
    )
    if entry is None:
        raise NotFound("memory key")
    return MemoryEntry.of(entry)


async def history(call: Call[None]) -> Page[MemoryEntry]:
    found = await call.services.db.run_read(
        memory.history,
        call.path("inbox_id"),
        _key(call),
        cutoff=retention_cutoff(call),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
    )
    return Page.of(found, MemoryEntry.of)


async def list_keys(call: Call[None]) -> MemoryKeys:
    found = await call.services.db.run_read(
        memory.keys, call.path("inbox_id"), cutoff=retention_cutoff(call)
    )
    return MemoryKeys(data=tuple(project(MemoryKey, k) for k in found))


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/inboxes/{inbox_id}/memory",
        handler=write,
        summary="Write a memory: mail the inbox itself, subject = key, text = value",
        scope=Scope.INBOX,
        permission="memory",
        body=WriteMemory,
        response=MemoryEntry,
        status=201,
        idempotent=True,
        body_limit=lambda settings: 2 * MAX_VALUE_CHARS * 6 + 4096,
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/memory",
        handler=read,
        summary="Read a memory: the latest value written for the key",
        scope=Scope.INBOX,
        permission="memory",
        response=MemoryEntry,
        query=(KEY,),
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/memory/history",
        handler=history,
        summary="Every value written for a key, newest first",
        scope=Scope.INBOX,
        permission="memory",
        response=Page[MemoryEntry],
        query=(KEY, params.LIMIT, CURSOR),
    ),
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/memory/keys",
        handler=list_keys,
        summary="The inbox's memory keys",
        scope=Scope.INBOX,
        permission="memory",
        response=MemoryKeys,
    ),
]
