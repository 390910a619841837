"""The SDK's models against the server's OpenAPI document: every field the SDK reads is one
the server declares, of a compatible type, and always sent unless the SDK has a default."""

from __future__ import annotations

import types
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import attrs
import pytest

from dispatch_client import (
    Agent,
    Artifact,
    Attachment,
    Claim,
    ClaimedAgent,
    ClaimToken,
    CreatedInboxKey,
    Domain,
    DomainRecord,
    Inbox,
    InboxKey,
    KeyInfo,
    MemoryEntry,
    MemoryKey,
    Message,
    MessageAttachment,
    MessageSummary,
    OperatorSession,
    Otp,
    SentEvent,
    SentMessage,
    Signup,
    Suppression,
    Thread,
    ThreadMessage,
    ThreadSummary,
    WaitResult,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointWithSecret,
    Workspace,
)
from dispatch_server.api import endpoints
from dispatch_server.http.openapi import document

Schema = dict[str, Any]
DOCUMENT = document(endpoints())
SCHEMAS: dict[str, Schema] = DOCUMENT["components"]["schemas"]
JSON_TYPES = {str: "string", int: "integer", bool: "boolean", float: "number", datetime: "string"}


def resolve(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def variants(schema: Schema) -> list[Schema]:
    """The alternatives of a schema, references resolved ("anyOf" of a type and null...)."""
    if "anyOf" in schema:
        return [resolve(s) for s in schema["anyOf"]]
    schema = resolve(schema)
    if isinstance(schema.get("type"), list):
        return [{**schema, "type": kind} for kind in schema["type"]]
    return [schema]


def json_type(schema: Schema) -> str:
    """The JSON type a schema allows; an enum or a const of strings is a string."""
    if "type" in schema:
        kind: str = schema["type"]
        return kind
    values = schema.get("enum", [schema.get("const")])
    assert all(isinstance(value, str) for value in values), schema
    return "string"


def check(model: type, schema: Schema, where: str) -> None:
    schema = resolve(schema)
    properties, required = schema["properties"], set(schema.get("required", ()))
    hints = get_type_hints(model)
    for sdk_field in attrs.fields(model):
        name = "from" if sdk_field.name == "from_" else sdk_field.name
        optional = sdk_field.default is not attrs.NOTHING
        if name not in properties:
            assert optional, f"{where}.{name}: the SDK requires it, the server never sends it"
            continue
        assert optional or name in required, f"{where}.{name}: the server may leave it out"
        check_type(hints[sdk_field.name], properties[name], f"{where}.{name}")


def check_type(python: Any, schema: Schema, where: str) -> None:
    allowed = variants(schema)
    nullable = any(json_type(s) == "null" for s in allowed)
    accepts_none = get_origin(python) in (Union, types.UnionType)
    assert accepts_none or not nullable, f"{where}: the server may send null"
    if accepts_none:
        python = next(arg for arg in get_args(python) if arg is not type(None))
    args = get_args(python)
    [schema] = [s for s in allowed if json_type(s) != "null"]
    if get_origin(python) is tuple:
        assert json_type(schema) == "array", where
        check_type(args[0], schema["items"], f"{where}[]")
    elif get_origin(python) in (dict, Mapping):
        assert json_type(schema) == "object" and args[0] is str, where
        check_type(args[1], schema["additionalProperties"], f"{where}{{}}")
    elif attrs.has(python):
        check(python, schema, where)
    elif get_origin(python) is Literal:
        assert json_type(schema) == "string" and set(args) <= set(schema.get("enum", args)), where
    else:
        assert json_type(schema) == JSON_TYPES[python], f"{where}: {schema} for {python}"
        if python is datetime:
            assert schema.get("format") == "date-time", where


def response(method: str, path: str) -> Schema:
    responses = DOCUMENT["paths"][path][method]["responses"]
    ok = next(status for status in responses if status.startswith("2"))
    schema: Schema = responses[ok]["content"]["application/json"]["schema"]
    return resolve(schema)


def items(method: str, path: str) -> Schema:
    page = response(method, path)
    assert set(page["properties"]) == {"data", "next_cursor"}
    return resolve(page["properties"]["data"]["items"])


INBOX = "/v1/inboxes/{inbox_id}"
HOOKS = "/v1/webhooks/endpoints"
CASES: list[tuple[type, Schema]] = [
    (Signup, response("post", "/v1/agent/signup")),
    (ClaimToken, response("post", "/v1/agent/claim-token")),
    (Claim, response("post", "/v1/agent/claim")),
    (ClaimedAgent, response("post", "/v1/operator/active-agent")),
    (ClaimedAgent, resolve(response("get", "/v1/operator/agents")["properties"]["data"]["items"])),
    (KeyInfo, response("get", "/v1/auth/me")),
    (OperatorSession, response("post", "/auth/signup")),
    (OperatorSession, response("post", "/auth/login")),
    (OperatorSession, response("post", "/auth/verify-email")),
    (Inbox, response("post", "/v1/inboxes")),
    (Inbox, response("get", INBOX)),
    (Inbox, items("get", "/v1/inboxes")),
    (Domain, response("post", "/v1/domains")),
    (Domain, items("get", "/v1/domains")),
    (Domain, response("get", "/v1/domains/{domain_id}")),
    (Domain, response("post", "/v1/domains/{domain_id}/verify")),
    (Domain, response("delete", "/v1/domains/{domain_id}")),
    (
        DomainRecord,
        resolve(response("get", "/v1/domains/{domain_id}")["properties"]["records"]["items"]),
    ),
    (CreatedInboxKey, response("post", f"{INBOX}/keys")),
    (InboxKey, items("get", f"{INBOX}/keys")),
    (InboxKey, response("delete", f"{INBOX}/keys/{{key_id}}")),
    (MessageSummary, items("get", f"{INBOX}/messages")),
    (Message, response("get", f"{INBOX}/messages/{{message_id}}")),
    (MessageAttachment, items("get", f"{INBOX}/messages/{{message_id}}/attachments")),
    (Artifact, items("get", f"{INBOX}/artifacts")),
    (Otp, resolve(variants(response("get", f"{INBOX}/otp")["properties"]["otp"])[0])),
    (WaitResult, response("get", f"{INBOX}/wait")),
    (SentMessage, response("post", "/v1/send")),
    (SentMessage, response("post", f"{INBOX}/messages/{{message_id}}/reply")),
    (SentMessage, items("get", f"{INBOX}/sent")),
    (SentMessage, response("get", f"{INBOX}/sent/{{sent_id}}")),
    (ThreadSummary, items("get", f"{INBOX}/threads")),
    (Thread, response("get", f"{INBOX}/threads/{{thread_id}}")),
    (Suppression, items("get", "/v1/suppressions")),
    (Suppression, response("delete", "/v1/suppressions/{address}")),
    (MemoryEntry, response("post", f"{INBOX}/memory")),
    (MemoryEntry, response("get", f"{INBOX}/memory")),
    (MemoryEntry, items("get", f"{INBOX}/memory/history")),
    (MemoryKey, resolve(response("get", f"{INBOX}/memory/keys")["properties"]["data"]["items"])),
    (WebhookEndpointWithSecret, response("post", HOOKS)),
    (WebhookEndpoint, items("get", HOOKS)),
    (WebhookEndpoint, response("get", f"{HOOKS}/{{endpoint_id}}")),
    (WebhookEndpoint, response("patch", f"{HOOKS}/{{endpoint_id}}")),
    (WebhookEndpoint, response("delete", f"{HOOKS}/{{endpoint_id}}")),
    (WebhookEndpointWithSecret, response("post", f"{HOOKS}/{{endpoint_id}}/rotate-secret")),
    (WebhookDelivery, items("get", f"{HOOKS}/{{endpoint_id}}/deliveries")),
    (
        WebhookDelivery,
        response("post", f"{HOOKS}/{{endpoint_id}}/deliveries/{{delivery_id}}/replay"),
    ),
]


@pytest.mark.parametrize(("model", "schema"), CASES, ids=[m.__name__ for m, _ in CASES])
def test_the_sdk_reads_what_the_server_declares(model: type, schema: Schema) -> None:
    check(model, schema, model.__name__)


@pytest.mark.parametrize(
    "model",
    [
        Workspace,
        Agent,
        Inbox,
        InboxKey,
        CreatedInboxKey,
        KeyInfo,
        MessageSummary,
        Attachment,
        MessageAttachment,
        Artifact,
        Otp,
        WaitResult,
        SentMessage,
        SentEvent,
        Suppression,
        ThreadSummary,
        Thread,
        ThreadMessage,
        MemoryEntry,
        MemoryKey,
        WebhookEndpoint,
        WebhookEndpointWithSecret,
        WebhookDelivery,
    ],
)
def test_the_sdk_reads_every_field_the_server_sends(model: type) -> None:
    # Unknown fields decode (they are ignored), but a field the SDK does not read is one
    # its users cannot see.
    names = {"from" if f.name == "from_" else f.name for f in attrs.fields(model)}
    assert set(SCHEMAS[model.__name__]["properties"]) <= names


def test_a_sent_attachment_is_described_as_a_received_one() -> None:
    names = {f.name for f in attrs.fields(Attachment)}
    assert set(SCHEMAS["AttachmentInfo"]["properties"]) == names


def test_the_memory_keys_answer_is_a_list_of_keys() -> None:
    assert set(response("get", f"{INBOX}/memory/keys")["properties"]) == {"data"}


def test_the_sdk_knows_every_delivery_state() -> None:
    from dispatch_client.types.sent import SendStatus

    states = resolve(SCHEMAS["SentMessage"]["properties"]["status"])["enum"]
    assert list(get_args(SendStatus)) == states


def test_the_whole_message_is_one_model_with_its_artifacts() -> None:
    names = {"from" if f.name == "from_" else f.name for f in attrs.fields(Message)}
    assert set(SCHEMAS["MessageWithArtifacts"]["properties"]) == names


def test_error_bodies_carry_what_the_sdk_reads() -> None:
    detail = SCHEMAS["ErrorDetail"]
    assert {"code", "message", "param"} <= set(detail["properties"])
    assert set(detail["required"]) == {"code", "message"}
