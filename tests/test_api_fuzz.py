"""Property-based requests generated from our own OpenAPI document (schemathesis): whatever a
client sends, the server answers with a 2xx or a 4xx, never a 5xx."""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, signup


@attrs.frozen
class Identity:
    account_key: str
    inbox_key: str
    inbox_id: str
    message_id: str


@pytest.fixture(scope="module")
def identity(live_server: LiveServer) -> Identity:
    account = signup(live_server.base_url)
    delivered = httpx.post(
        f"{live_server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
        json={
            "to": account["inbox"]["address"],
            "subject": "Your code",
            "text": "Your code is 123456. https://x.test/verify?token=abcdefghij",
        },
    ).json()
    return Identity(
        account["account_key"],
        account["inbox_key"],
        account["inbox"]["id"],
        delivered["deliveries"][0]["message_id"],
    )


def prepare(case: Any, identity: Identity, pin_ids: bool) -> dict[str, str]:
    """Point most cases at a real inbox and message so they reach the handlers, keep waits
    short, and pick the credential the route needs. Returns the headers to send."""
    path = case.operation.path
    if pin_ids and "inbox_id" in (case.path_parameters or {}):
        case.path_parameters["inbox_id"] = identity.inbox_id
        if "message_id" in case.path_parameters:
            case.path_parameters["message_id"] = identity.message_id
    if path.endswith("/wait"):
        case.query = {**(case.query or {}), "timeout": 0}
    if path == "/v1/webhooks/inbound":
        return {"x-dispatch-inbound-token": INBOUND_TOKEN}
    if path in ("/v1/inboxes", "/v1/inboxes/{inbox_id}/keys"):
        return bearer(identity.account_key)
    return bearer(identity.inbox_key)


def test_no_input_makes_the_server_fail(live_server: LiveServer, identity: Identity) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 14

    for operation in operations:

        @given(case=operation.as_strategy(), pin_ids=st.booleans())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any, pin_ids: bool) -> None:
            headers = prepare(case, identity, pin_ids)
            response = case.call(headers=headers, timeout=30)
            case.validate_response(response, checks=(not_a_server_error,))

        check()
