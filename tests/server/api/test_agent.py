"""Agent signup over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import bearer, error_code, signup


def test_signup_creates_workspace_agent_inbox_and_two_keys(live_server: LiveServer) -> None:
    result = signup(live_server.base_url, name="signup-bot", local_part="Signup.Bot")
    assert result["workspace"]["name"] == "signup-bot"
    assert result["workspace"]["plan"] == "free"
    assert result["agent"]["workspace_id"] == result["workspace"]["id"]
    assert result["inbox"]["address"] == "signup.bot@dispatch.test"
    assert result["inbox"]["workspace_id"] == result["workspace"]["id"]
    assert result["account_key"] != result["inbox_key"]
    inboxes = httpx.get(
        f"{live_server.base_url}/v1/inboxes", headers=bearer(result["account_key"])
    ).json()["data"]
    assert [i["id"] for i in inboxes] == [result["inbox"]["id"]]
    inbox = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{result['inbox']['id']}",
        headers=bearer(result["inbox_key"]),
    )
    assert inbox.json()["address"] == "signup.bot@dispatch.test"


def test_signup_with_taken_address_is_409_and_creates_nothing(live_server: LiveServer) -> None:
    signup(live_server.base_url, local_part="taken")
    response = httpx.post(f"{live_server.base_url}/v1/agent/signup", json={"local_part": "taken"})
    assert response.status_code == 409
    assert error_code(response) == "address_taken"


@pytest.mark.parametrize(
    "body",
    [
        {"local_part": "-bad"},
        {"local_part": "a b"},
        {"local_part": 7},
        {"name": ["x"]},
        {"local_part": "postmaster"},
        {"local_part": "x" * 65},
    ],
)
def test_signup_rejects_bad_input_with_400(
    live_server: LiveServer, body: dict[str, object]
) -> None:
    response = httpx.post(f"{live_server.base_url}/v1/agent/signup", json=body)
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"


def test_malformed_json_is_400(live_server: LiveServer) -> None:
    response = httpx.post(
        f"{live_server.base_url}/v1/agent/signup",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    response = httpx.post(f"{live_server.base_url}/v1/agent/signup", json=[1, 2])
    assert response.status_code == 400
