"""The OpenAPI 3.1 document served at /openapi.json. A test keeps it in step with the routes."""

from __future__ import annotations

from typing import Any

from dispatch_server import __version__
from dispatch_server.domain import messages as m
from dispatch_server.domain.workspaces import LOCAL_PART

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


STR: Schema = {"type": "string"}
TIME: Schema = {"type": "string", "format": "date-time"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
LOCAL_PART_SCHEMA: Schema = {"type": "string", "pattern": LOCAL_PART.pattern, "maxLength": 64}
ADDRESS: Schema = {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(["error"], error=_object(["code", "message"], code=STR, message=STR)),
    "Workspace": _object(
        ["id", "name", "plan", "status", "created_at"],
        id=STR,
        name=STR,
        plan=STR,
        status=STR,
        created_at=TIME,
    ),
    "Agent": _object(
        ["id", "workspace_id", "name", "created_at"],
        id=STR,
        workspace_id=STR,
        name=STR,
        created_at=TIME,
    ),
    "Inbox": _object(
        ["id", "workspace_id", "address", "display_name", "created_at"],
        id=STR,
        workspace_id=STR,
        address=STR,
        display_name=_nullable(STR),
        created_at=TIME,
    ),
    "Signup": _object(
        ["workspace", "agent", "inbox", "account_key", "inbox_key"],
        workspace=_ref("Workspace"),
        agent=_ref("Agent"),
        inbox=_ref("Inbox"),
        account_key=STR,
        inbox_key=STR,
    ),
    "InboxKey": _object(
        ["id", "kind", "inbox_id", "label", "created_at", "revoked_at"],
        id=STR,
        kind={"const": "inbox"},
        inbox_id=STR,
        label=_nullable(STR),
        created_at=TIME,
        revoked_at=_nullable(TIME),
    ),
    "CreatedInboxKey": _object(
        ["id", "kind", "inbox_id", "label", "created_at", "revoked_at", "key"],
        id=STR,
        kind={"const": "inbox"},
        inbox_id=STR,
        label=_nullable(STR),
        created_at=TIME,
        revoked_at=_nullable(TIME),
        key=STR,
    ),
    "Attachment": _object(
        ["filename", "content_type", "size_bytes"],
        filename=_nullable(STR),
        content_type=STR,
        size_bytes=INT,
    ),
    "Artifact": _object(
        ["id", "message_id", "kind", "value", "is_primary", "received_at"],
        id=STR,
        message_id=STR,
        kind={"enum": list(m.ARTIFACT_KINDS)},
        value=STR,
        is_primary=BOOL,
        received_at=TIME,
    ),
    "Message": _object(
        [
            "id",
            "inbox_id",
            "from",
            "from_address",
            "to",
            "cc",
            "subject",
            "text",
            "html",
            "message_id_header",
            "folder",
            "size_bytes",
            "received_at",
            "attachments",
        ],
        id=STR,
        inbox_id=STR,
        **{"from": _nullable(STR)},
        from_address=_nullable(STR),
        to={"type": "array", "items": STR},
        cc={"type": "array", "items": STR},
        subject=_nullable(STR),
        text=_nullable(STR),
        html=_nullable(STR),
        message_id_header=_nullable(STR),
        folder={"enum": ["inbox", "spam"]},
        size_bytes=INT,
        received_at=TIME,
        attachments={"type": "array", "items": _ref("Attachment")},
        artifacts={
            "type": "array",
            "items": _ref("Artifact"),
            "description": "only on single-message reads",
        },
    ),
    "Otp": _object(
        ["code", "message_id", "from", "subject", "received_at"],
        code=STR,
        message_id=STR,
        **{"from": _nullable(STR)},
        subject=_nullable(STR),
        received_at=TIME,
    ),
    "WaitResult": _object(
        ["matched", "message", "otp", "link", "cursor", "unmatched_count"],
        matched=BOOL,
        message=_nullable(_ref("Message")),
        otp=_nullable(_ref("Otp")),
        link=_nullable(_ref("Artifact")),
        cursor=STR,
        unmatched_count={
            "type": "integer",
            "minimum": 0,
            "description": "unmatched: messages in the window that did not pass the filters",
        },
    ),
    "Delivery": _object(
        ["inbox_id", "message_id", "duplicate", "folder"],
        inbox_id=STR,
        message_id=STR,
        duplicate=BOOL,
        folder=STR,
    ),
}


def _page(item: str) -> Schema:
    return _object(
        ["data", "next_cursor"],
        data={"type": "array", "items": _ref(item)},
        next_cursor=_nullable(STR),
    )


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json(_ref("Error"), "Error")


def _op(
    summary: str,
    responses: dict[str, Schema],
    *,
    auth: str | None,
    params: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    operation: Schema = {"summary": summary, "responses": {**responses, "default": ERROR}}
    operation["security"] = [{"apiKey": []}] if auth else []
    if auth:
        operation["description"] = f"Needs an {auth} key."
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def _q(name: str, schema: Schema, description: str = "") -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


INBOX_ID = {"name": "inbox_id", "in": "path", "required": True, "schema": STR}
MESSAGE_ID = {"name": "message_id", "in": "path", "required": True, "schema": STR}
LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50})
CURSOR = _q("cursor", STR, "next_cursor of the previous page")
FOLDER = _q("folder", {"enum": list(m.FOLDERS), "default": "inbox"})

PATHS: dict[str, dict[str, Schema]] = {
    "/health": {"get": _op("Liveness", {"200": _json(_object(["status"], status=STR))}, auth=None)},
    "/ready": {
        "get": _op(
            "Readiness (database answers)",
            {"200": _json(_object(["status"], status=STR))},
            auth=None,
        )
    },
    "/v1/agent/signup": {
        "post": _op(
            "Create a workspace, agent, default inbox, account key and inbox key",
            {"201": _json(_ref("Signup"), "Created")},
            auth=None,
            body=_object([], name=STR, local_part=LOCAL_PART_SCHEMA),
        )
    },
    "/v1/inboxes": {
        "get": _op(
            "List the workspace's inboxes, oldest first",
            {"200": _json(_page("Inbox"))},
            auth="account",
            params=[LIMIT, CURSOR],
        ),
        "post": _op(
            "Create an inbox",
            {"201": _json(_ref("Inbox"), "Created")},
            auth="account",
            body=_object([], local_part=LOCAL_PART_SCHEMA, display_name=STR),
        ),
    },
    "/v1/inboxes/{inbox_id}": {
        "get": _op(
            "Get an inbox",
            {"200": _json(_ref("Inbox"))},
            auth="account or inbox",
            params=[INBOX_ID],
        )
    },
    "/v1/inboxes/{inbox_id}/keys": {
        "post": _op(
            "Mint an inbox key",
            {"201": _json(_ref("CreatedInboxKey"), "Created")},
            auth="account",
            params=[INBOX_ID],
            body=_object([], label=STR),
        ),
        "get": _op(
            "The inbox's keys that are not revoked, oldest first",
            {"200": _json(_page("InboxKey"))},
            auth="account",
            params=[INBOX_ID, LIMIT, CURSOR],
        ),
    },
    "/v1/inboxes/{inbox_id}/keys/{key_id}": {
        "delete": _op(
            "Revoke an inbox key (at once; revoking again changes nothing)",
            {"200": _json(_ref("InboxKey"))},
            auth="account",
            params=[INBOX_ID, {"name": "key_id", "in": "path", "required": True, "schema": STR}],
        )
    },
    "/v1/inboxes/{inbox_id}/messages": {
        "get": _op(
            "Messages, newest first",
            {"200": _json(_page("Message"))},
            auth="inbox",
            params=[INBOX_ID, LIMIT, CURSOR, FOLDER],
        )
    },
    "/v1/inboxes/{inbox_id}/messages/{message_id}": {
        "get": _op(
            "One message with its artifacts",
            {"200": _json(_ref("Message"))},
            auth="inbox",
            params=[INBOX_ID, MESSAGE_ID],
        )
    },
    "/v1/inboxes/{inbox_id}/messages/{message_id}/raw": {
        "get": _op(
            "The message as received",
            {
                "200": {
                    "description": "RFC 5322 bytes",
                    "content": {
                        "message/rfc822": {"schema": {"type": "string", "format": "binary"}}
                    },
                }
            },
            auth="inbox",
            params=[INBOX_ID, MESSAGE_ID],
        )
    },
    "/v1/inboxes/{inbox_id}/artifacts": {
        "get": _op(
            "Extracted OTPs and links, newest first",
            {"200": _json(_page("Artifact"))},
            auth="inbox",
            params=[INBOX_ID, _q("kind", {"enum": list(m.ARTIFACT_KINDS)}), LIMIT, CURSOR],
        )
    },
    "/v1/inboxes/{inbox_id}/otp": {
        "get": _op(
            "The newest OTP",
            {"200": _json(_object(["otp"], otp=_nullable(_ref("Otp"))))},
            auth="inbox",
            params=[INBOX_ID],
        )
    },
    "/v1/inboxes/{inbox_id}/wait": {
        "get": _op(
            "Server-side long poll for the next matching message",
            {"200": _json(_ref("WaitResult"))},
            auth="inbox",
            params=[
                INBOX_ID,
                _q("kind", {"enum": list(m.WAIT_KINDS), "default": "message"}),
                _q("after", STR, "cursor of an earlier answer: the oldest match after it"),
                _q("since", TIME, "the newest match received at or after this time"),
                _q("from", STR, "substring of From"),
                _q("subject", STR, "substring of Subject"),
                FOLDER,
                _q(
                    "timeout",
                    {"type": "number", "minimum": 0, "default": 30},
                    "seconds; a longer one than the server's maximum is shortened to it",
                ),
            ],
        )
    },
    "/v1/webhooks/inbound": {
        "post": {
            "summary": "Dev inbound door (x-dispatch-inbound-token)",
            "security": [{"inboundToken": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _object(
                            ["to"],
                            to={
                                "anyOf": [
                                    ADDRESS,
                                    {"type": "array", "items": ADDRESS, "minItems": 1},
                                ]
                            },
                            **{"from": STR},
                            subject=STR,
                            text=STR,
                            html=STR,
                            headers={"type": "object", "additionalProperties": STR},
                            spam=BOOL,
                        )
                    },
                    "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "responses": {
                "201": _json(
                    _object(
                        ["deliveries", "rejected"],
                        deliveries={"type": "array", "items": _ref("Delivery")},
                        rejected={"type": "array", "items": STR},
                    ),
                    "Stored",
                ),
                "default": ERROR,
            },
        }
    },
    "/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"})}, auth=None)},
}


def document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dispatch API",
            "version": __version__,
            "description": "Email inboxes as an API for AI agents.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "<key_id>.<secret>, an account or an inbox key",
                },
                "inboundToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-dispatch-inbound-token",
                },
            },
        },
    }
