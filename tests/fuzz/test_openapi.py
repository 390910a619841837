"""Property-based requests generated from our own OpenAPI document (schemathesis): whatever a
client sends, the server answers with a 2xx or a 4xx, never a 5xx, and every answer (success
or error) has the status, content type and body shape the document declares."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import attrs
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import (
    BACKENDS,
    INBOUND_TOKEN,
    LiveServer,
    _ServerThread,
    fresh_database_url,
    make_settings,
)
from tests.helpers import bearer, signup
from tests.stripe_server import TEST_API_KEY, WEBHOOK_SECRET, StripeServer

OPS_TOKEN = "fuzz-ops-token"


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[StripeServer]:
    server = StripeServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    stripe_api: StripeServer,
) -> Iterator[LiveServer]:
    """The shared server, with every door open: the SNS door too (its topic is one no fuzzed
    message names, so each is refused before any certificate would be fetched), the ops
    status, the Prometheus metrics, and Stripe (a local server in its format)."""
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_SNS_TOPIC_ARNS="arn:aws:sns:us-east-1:123456789012:dispatch-fuzz",
        DISPATCH_OPS_TOKEN=OPS_TOKEN,
        DISPATCH_METRICS_ENABLED="true",
        STRIPE_SECRET_KEY=TEST_API_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=stripe_api.base_url,
    )
    thread = _ServerThread(settings)
    try:
        yield thread.start()
    finally:
        thread.stop()
        next(urls, None)


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
    if path == "/v1/ops/status":
        return {"x-dispatch-ops-token": OPS_TOKEN}
    if path in ("/v1/inboxes", "/v1/inboxes/{inbox_id}/keys") or path.startswith(
        ("/v1/inboxes/{inbox_id}/keys/", "/v1/billing/", "/v1/webhooks/endpoints", "/v1/domains")
    ):
        return bearer(identity.account_key)
    return bearer(identity.inbox_key)


CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


def test_no_input_makes_the_server_fail(live_server: LiveServer, identity: Identity) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 16
    # The event streams answer a stream that does not end: their refusals (bad `types`,
    # `after`, Last-Event-ID, scope) are tested in tests/server/events/test_event_stream.py.
    operations = [op for op in operations if not op.path.endswith("/events")]

    for operation in operations:

        @given(case=operation.as_strategy(), pin_ids=st.booleans())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any, pin_ids: bool) -> None:
            headers = prepare(case, identity, pin_ids)
            response = case.call(headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS)

        check()


# Any text, and often a lone surrogate or NUL in it (json.dumps escapes them, as a client could)
ODD_TEXT = st.tuples(st.text(max_size=5), st.sampled_from("\ud800\udfff\x00"), st.text(max_size=5))
ANY_TEXT = st.text(st.characters(exclude_categories=())) | ODD_TEXT.map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)


def test_no_json_body_makes_the_server_fail(live_server: LiveServer, identity: Identity) -> None:
    """Any JSON value in any field, lone surrogates included (json.dumps escapes them)."""
    base = live_server.base_url
    routes = [
        (f"{base}/v1/agent/signup", {}, ["name", "local_part"]),
        (
            f"{base}/v1/inboxes",
            bearer(identity.account_key),
            ["display_name", "local_part", "domain"],
        ),
        (f"{base}/v1/domains", bearer(identity.account_key), ["name"]),
        (f"{base}/v1/inboxes/{identity.inbox_id}/keys", bearer(identity.account_key), ["label"]),
    ]

    @given(route=st.sampled_from(routes), data=st.data())
    @settings(
        max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(route: tuple[str, dict[str, str], list[str]], data: st.DataObject) -> None:
        url, headers, fields = route
        body = {data.draw(st.sampled_from(fields)): data.draw(JSON_VALUES)}
        content = json.dumps(body).encode()
        response = httpx.post(url, content=content, headers=headers, timeout=30)
        assert response.status_code < 500, (content, response.text)

    check()


def _timestamp(moment: datetime, offset_minutes: int) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{moment.isoformat()}{sign}{hours:02}:{minutes:02}"


MOMENTS = st.datetimes() | st.sampled_from([datetime.min, datetime.max])
TIMESTAMPS = st.builds(_timestamp, MOMENTS, st.integers(-14 * 60, 14 * 60)) | st.text()


def test_no_cursor_or_time_makes_the_server_fail(
    live_server: LiveServer, identity: Identity
) -> None:
    """Forged cursors (right shape, any time and id; or any bytes) and any `since`."""
    inbox = f"{live_server.base_url}/v1/inboxes/{identity.inbox_id}"
    forged = st.builds(
        lambda kind, moment, row_id: json.dumps([kind, moment, row_id]).encode(),
        st.sampled_from(["message", "artifact", "thread", "draft", ""]),
        TIMESTAMPS,
        ANY_TEXT | st.uuids().map(str),
    )

    @given(
        payload=forged | st.binary(),
        since=TIMESTAMPS,
        path=st.sampled_from(["messages", "artifacts", "threads", "drafts", "wait"]),
    )
    @settings(
        max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(payload: bytes, since: str, path: str) -> None:
        cursor = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        queries = (
            [{"after": cursor, "timeout": "0"}, {"since": since, "timeout": "0"}]
            if path == "wait"
            else [{"cursor": cursor}]
        )
        for query in queries:
            response = httpx.get(
                f"{inbox}/{path}", params=query, headers=bearer(identity.inbox_key), timeout=30
            )
            assert response.status_code < 500, (payload, since, response.text)

    check()
