"""Artifacts: the OTP codes and links extracted from an inbox's mail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from dispatch_server.auth import policy
from dispatch_server.auth.principal import Scope
from dispatch_server.domain import messages
from dispatch_server.http import params
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import Page, project

CURSOR = params.page_cursor("artifact")
KIND = params.choice("kind", messages.ARTIFACT_KINDS, default=None)


def retention_cutoff(call: Call[Any]) -> datetime:
    """Mail older than this is no longer served."""
    return messages.retention_cutoff(call.services.settings.storage.message_retention_days)


@attrs.frozen(kw_only=True)
class Artifact:
    """A value extracted from a message: an OTP code or a link."""

    id: str
    message_id: str
    kind: messages.ArtifactKind
    value: str
    is_primary: bool
    received_at: datetime

    @classmethod
    def of(cls, artifact: messages.Artifact) -> Artifact:
        return project(cls, artifact)


async def list_artifacts(call: Call[None]) -> Page[Artifact]:
    found = await call.services.db.run_read(
        messages.list_artifacts,
        call.path("inbox_id"),
        kind=call.query(KIND),
        limit=call.query(params.LIMIT),
        cursor=call.query(CURSOR),
        cutoff=retention_cutoff(call),
        senders=policy.senders_of(call.principal),
    )
    return Page.of(found, Artifact.of)


ENDPOINTS = [
    Endpoint(
        method="GET",
        path="/v1/inboxes/{inbox_id}/artifacts",
        handler=list_artifacts,
        summary="Extracted OTPs and links, newest first",
        scope=Scope.INBOX,
        permission="read",
        response=Page[Artifact],
        query=(KIND, params.LIMIT, CURSOR),
    )
]
