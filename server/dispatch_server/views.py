"""Rows to API JSON shapes: the one place that decides what the API shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def workspace_view(row: Any) -> dict[str, Any]:
    m = _mapping(row)
    return {
        "id": m["id"],
        "name": m["name"],
        "plan": m["plan"],
        "status": m["status"],
        "created_at": timestamp(m["created_at"]),
    }


def agent_view(row: Any) -> dict[str, Any]:
    m = _mapping(row)
    return {
        "id": m["id"],
        "workspace_id": m["workspace_id"],
        "name": m["name"],
        "created_at": timestamp(m["created_at"]),
    }


def inbox_view(row: Any) -> dict[str, Any]:
    m = _mapping(row)
    return {
        "id": m["id"],
        "workspace_id": m["workspace_id"],
        "address": m["address"],
        "display_name": m["display_name"],
        "created_at": timestamp(m["created_at"]),
    }


def key_view(key: dict[str, Any]) -> dict[str, Any]:
    return {
        **key,
        "created_at": timestamp(key["created_at"]),
        "revoked_at": timestamp(key["revoked_at"]),
    }


def message_view(row: Any) -> dict[str, Any]:
    m = _mapping(row)
    return {
        "id": m["id"],
        "inbox_id": m["inbox_id"],
        "from": m["from_header"],
        "from_address": m["from_address"],
        "to": m["to_addresses"],
        "cc": m["cc_addresses"],
        "subject": m["subject"],
        "text": m["text_body"],
        "html": m["html_body"],
        "message_id_header": m["message_id_header"],
        "folder": m["folder"],
        "size_bytes": m["size_bytes"],
        "received_at": timestamp(m["received_at"]),
        "attachments": m["attachments"],
    }


def artifact_view(row: Any) -> dict[str, Any]:
    m = _mapping(row)
    return {
        "id": m["id"],
        "message_id": m["message_id"],
        "kind": m["kind"],
        "value": m["value"],
        "is_primary": m["is_primary"],
        "received_at": timestamp(m["received_at"]),
    }


def otp_view(code: str, message_id: str, message: Any) -> dict[str, Any]:
    """An OTP with the sender, subject and time of the message it came in."""
    m = _mapping(message)
    return {
        "code": code,
        "message_id": message_id,
        "from": m["from_header"],
        "subject": m["subject"],
        "received_at": timestamp(m["received_at"]),
    }


def _mapping(row: Any) -> Any:
    return row if isinstance(row, dict) else row._mapping
