"""The operator's story end to end, on both databases, from the SDK and from curl: an agent
signs up; an operator signs up with the agent's inbox address, reads the verification code
through Dispatch itself (`wait_for_otp` on that inbox), verifies, claims the agent with the
agent's claim token, and acts with the fresh keys."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch_client import AsyncDispatch, ConflictError, Dispatch
from tests.conftest import BACKENDS, LiveServer
from tests.server.api.operator_helpers import PASSWORD, serve
from tests.server.cli.test_commands import DevProcess


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory)


def test_signup_verify_claim_fresh_keys_sync(server: LiveServer) -> None:
    with Dispatch(base_url=server.base_url) as agent:
        signup = agent.agent.signup(local_part="story-agent")
        token = agent.agent.claim_token()
        assert token.claim_email == signup.inbox.address == "story-agent@dispatch.test"
        with Dispatch(base_url=server.base_url) as human:
            session = human.operator.signup(email=signup.inbox.address, password=PASSWORD)
            assert session.verification_sent is True
            assert session.operator.email_verified is False
            code = agent.otp.wait_for_otp(signup.inbox.id, timeout=20, from_="Dispatch")
            verified = human.operator.verify_email(code)
            assert verified.operator.email_verified is True
            claim = human.operator.claim(
                claim_email=token.claim_email, claim_token=token.claim_token
            )
            assert claim.agent_id == signup.agent.id and claim.method == "token"
            [listed] = human.operator.agents()
            assert listed.agent_id == signup.agent.id and listed.active
            with pytest.raises(ConflictError) as replayed:
                human.operator.claim(claim_email=token.claim_email, claim_token=token.claim_token)
            assert replayed.value.code == "claim_token_used"
        # The fresh keys act for the agent; the agent's own keys keep working.
        with Dispatch(api_key=claim.account_key, base_url=server.base_url) as owner:
            assert [inbox.id for inbox in owner.inboxes.list()] == [signup.inbox.id]
        with Dispatch(api_key=claim.inbox_key, base_url=server.base_url) as owner:
            assert owner.inboxes.get(signup.inbox.id).address == signup.inbox.address
        assert [inbox.id for inbox in agent.inboxes.list()] == [signup.inbox.id]


def test_signup_verify_claim_fresh_keys_async(server: LiveServer) -> None:
    async def story() -> None:
        async with AsyncDispatch(base_url=server.base_url) as agent:
            signup = await agent.agent.signup()
            async with AsyncDispatch(base_url=server.base_url) as human:
                await human.operator.signup(email=signup.inbox.address, password=PASSWORD)
                code = await agent.otp.wait_for_otp(signup.inbox.id, timeout=20)
                await human.operator.verify_email(code)
                logged_in = await human.operator.login(signup.inbox.address, PASSWORD)
                assert logged_in.operator.email_verified is True
                claim = await human.operator.claim(api_key=signup.inbox_key)
                assert claim.method == "api_key"
                switched = await human.operator.switch(claim.agent_id)
                assert switched.active

    asyncio.run(story())


def curl(server: LiveServer, method: str, path: str, body: Any = None, token: str = "") -> Any:
    command = ["curl", "-sS", "-X", method, f"{server.base_url}{path}"]
    command += ["-H", "content-type: application/json"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        command += ["-d", json.dumps(body)]
    output = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    return json.loads(output)


def test_signup_verify_claim_fresh_keys_with_curl(server: LiveServer) -> None:
    agent = curl(server, "POST", "/v1/agent/signup", {"local_part": "curl-agent"})
    inbox, inbox_key = agent["inbox"], agent["inbox_key"]
    token = curl(server, "POST", "/v1/agent/claim-token", {}, inbox_key)
    session = curl(
        server, "POST", "/auth/signup", {"email": inbox["address"], "password": PASSWORD}
    )
    waited = curl(
        server, "GET", f"/v1/inboxes/{inbox['id']}/wait?kind=otp&timeout=20", None, inbox_key
    )
    code = waited["otp"]["code"]
    verified = curl(server, "POST", "/auth/verify-email", {"code": code}, session["access_token"])
    assert verified["operator"]["email_verified"] is True
    claim = curl(
        server,
        "POST",
        "/v1/agent/claim",
        {"claim_email": token["claim_email"], "claim_token": token["claim_token"]},
        verified["access_token"],
    )
    listed = curl(server, "GET", "/v1/inboxes", None, claim["account_key"])
    assert [i["id"] for i in listed["data"]] == [inbox["id"]]
    agents = curl(server, "GET", "/v1/operator/agents", None, verified["access_token"])
    assert [a["agent_id"] for a in agents["data"]] == [agent["agent"]["id"]]


def test_the_story_against_dispatch_server_dev(tmp_path: Path) -> None:
    """As a user runs it: `dispatch-server dev` (what `make dev` starts, with its own
    settings: SQLite, the local outbound transport), the SDK on the other side."""
    data_dir = tmp_path / ".dispatch"
    data_dir.mkdir()
    dev = DevProcess(data_dir)
    try:
        with Dispatch(base_url=dev.base_url) as agent:
            signup = agent.agent.signup(local_part="dev-story")
            token = agent.agent.claim_token()
            with Dispatch(base_url=dev.base_url) as human:
                human.operator.signup(email=signup.inbox.address, password=PASSWORD)
                code = agent.otp.wait_for_otp(signup.inbox.id, timeout=20, from_="Dispatch")
                assert human.operator.verify_email(code).operator.email_verified is True
                claim = human.operator.claim(
                    claim_email=token.claim_email, claim_token=token.claim_token
                )
            with Dispatch(api_key=claim.inbox_key, base_url=dev.base_url) as owner:
                assert owner.inboxes.get(signup.inbox.id).address == signup.inbox.address
    finally:
        dev.stop()
