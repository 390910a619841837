"""The private beta over real HTTP on both databases: signups (operators' and agents') gated
by the environment's invite code or managed codes with redemption limits, expiry and
revocation; and signups closed."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dispatch_client import Dispatch, PermissionDeniedError
from dispatch_server.db import tables as t
from tests.conftest import BACKENDS, LiveServer
from tests.helpers import error_code
from tests.server.api.operator_helpers import (
    ADMIN_LOCAL_PART,
    PASSWORD,
    Mailbox,
    execute,
    past,
    post,
    serve,
)

ENV_CODE = "env-invite-code"


@pytest.fixture(scope="module", params=BACKENDS)
def gated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve(
        request,
        tmp_path_factory,
        DISPATCH_OPERATOR_SIGNUP="invite",
        DISPATCH_AGENT_SIGNUP="invite",
        DISPATCH_BETA_INVITE_CODE=ENV_CODE,
    )


@pytest.fixture(scope="module", params=BACKENDS)
def closed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve(
        request, tmp_path_factory, DISPATCH_OPERATOR_SIGNUP="closed", DISPATCH_AGENT_SIGNUP="closed"
    )


def refused(response: httpx.Response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.json()["error"].get("param") == param


def operator_signup(server: LiveServer, email: str, code: str | None) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "password": PASSWORD}
    if code is not None:
        body["invite_code"] = code
    return post(server, "/auth/signup", body)


def agent_signup(server: LiveServer, code: Any = None, **body: Any) -> httpx.Response:
    return post(server, "/v1/agent/signup", body if code is None else {"invite_code": code, **body})


def admin_token(server: LiveServer) -> str:
    """The admin's token: an inbox at the admin's address (signed up with the environment's
    code), then the operator, verified with the code mailed to that inbox."""
    email = f"{ADMIN_LOCAL_PART}@dispatch.test"
    known = post(server, "/auth/login", {"email": email, "password": PASSWORD})
    if known.status_code == 200:
        token: str = known.json()["access_token"]
        return token
    account = agent_signup(server, ENV_CODE, local_part=ADMIN_LOCAL_PART).json()
    mailbox = object.__new__(Mailbox)
    mailbox.server, mailbox.inbox_id = server, account["inbox"]["id"]
    mailbox.inbox_key = account["inbox_key"]
    session = operator_signup(server, email, ENV_CODE).json()
    verified = post(
        server, "/auth/verify-email", {"code": mailbox.code()}, token=session["access_token"]
    )
    assert verified.json()["operator"]["is_admin"] is True
    token = verified.json()["access_token"]
    return token


def test_the_environments_code_opens_signup_any_number_of_times(gated: LiveServer) -> None:
    for n in range(3):
        assert operator_signup(gated, f"env{n}@example.com", ENV_CODE).status_code == 201
        assert agent_signup(gated, ENV_CODE).status_code == 201


@pytest.mark.parametrize("code", [None, "", "wrong", "x" * 200, "beta-" + "a" * 16])
def test_signups_without_a_valid_code_are_403(gated: LiveServer, code: str | None) -> None:
    refused(
        operator_signup(gated, "nocode@example.com", code),
        403,
        "invite_code_invalid",
        "invite_code",
    )
    refused(agent_signup(gated, code), 403, "invite_code_invalid", "invite_code")
    # Nothing was created: the same email signs up once it has a code.
    email = f"nocode-{zlib.crc32(repr(code).encode())}@example.com"
    refused(operator_signup(gated, email, code), 403, "invite_code_invalid", "invite_code")
    assert operator_signup(gated, email, ENV_CODE).status_code == 201


@pytest.mark.parametrize("code", [7, ["x"], "x" * 201])
def test_ill_typed_codes_are_400(gated: LiveServer, code: Any) -> None:
    refused(
        operator_signup(gated, "typed@example.com", code), 400, "invalid_request", "invite_code"
    )
    refused(agent_signup(gated, code), 400, "invalid_request", "invite_code")


def test_managed_codes_have_limits_expiry_and_revocation(gated: LiveServer) -> None:
    admin = admin_token(gated)
    created = post(gated, "/auth/beta-codes", {"max_redemptions": 2}, admin).json()
    code = created["code"]
    assert operator_signup(gated, "one@example.com", code).status_code == 201
    assert agent_signup(gated, code).status_code == 201  # agents redeem the same codes
    used_up = operator_signup(gated, "three@example.com", code)
    refused(used_up, 403, "invite_code_invalid", "invite_code")
    assert "used up" in used_up.json()["error"]["message"]
    [listed] = [c for c in _codes(gated, admin) if c["id"] == created["invite"]["id"]]
    assert listed["redemptions"] == 2

    expiring = post(gated, "/auth/beta-codes", {"expires_in_days": 1}, admin).json()
    codes = t.beta_invite_codes
    execute(
        gated,
        codes.update().where(codes.c.id == expiring["invite"]["id"]).values(expires_at=past()),
    )
    expired = operator_signup(gated, "late@example.com", expiring["code"])
    refused(expired, 403, "invite_code_invalid", "invite_code")
    assert "expired" in expired.json()["error"]["message"]

    revoked = post(gated, "/auth/beta-codes", {}, admin).json()
    httpx.delete(
        f"{gated.base_url}/auth/beta-codes/{revoked['invite']['id']}",
        headers={"Authorization": f"Bearer {admin}"},
    )
    refused(agent_signup(gated, revoked["code"]), 403, "invite_code_invalid", "invite_code")


def _codes(server: LiveServer, admin: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/auth/beta-codes", headers={"Authorization": f"Bearer {admin}"}
    )
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_closed_signups_are_403(closed: LiveServer) -> None:
    refused(operator_signup(closed, "shut@example.com", None), 403, "signup_closed", None)
    refused(agent_signup(closed), 403, "signup_closed", None)
    # Waitlist signups stay open.
    assert post(closed, "/auth/beta-interest", {"email": "shut@example.com"}).status_code == 202


def test_the_sdk_signs_an_agent_up_with_an_invite_code(gated: LiveServer) -> None:
    with Dispatch(base_url=gated.base_url) as agent:
        with pytest.raises(PermissionDeniedError) as refused_signup:
            agent.agent.signup()
        assert refused_signup.value.code == "invite_code_invalid"
        assert refused_signup.value.param == "invite_code"
        signup = agent.agent.signup(invite_code=ENV_CODE)
        assert agent.inboxes.get(signup.inbox.id).address == signup.inbox.address
