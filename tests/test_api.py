"""Signup, auth scopes, inboxes and keys over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import bearer, signup


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    code: str = body["error"]["code"]
    return code


def test_health_and_ready(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.base_url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{live_server.base_url}/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


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


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic abc",
        "Bearer nodot",
        f"Bearer {uuid.uuid4()}.wrong-secret",
        "Bearer not-a-uuid.secret",
    ],
)
def test_bad_keys_are_401(live_server: LiveServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{live_server.base_url}/v1/inboxes", headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"


def test_right_key_id_with_wrong_secret_is_401(live_server: LiveServer) -> None:
    key_id = signup(live_server.base_url)["account_key"].split(".")[0]
    response = httpx.get(f"{live_server.base_url}/v1/inboxes", headers=bearer(f"{key_id}.guessed"))
    assert response.status_code == 401


def test_key_scopes(live_server: LiveServer) -> None:
    base = live_server.base_url
    mine, theirs = signup(base), signup(base)
    inbox_id = mine["inbox"]["id"]
    # inbox key on a workspace route
    response = httpx.get(f"{base}/v1/inboxes", headers=bearer(mine["inbox_key"]))
    assert (response.status_code, error_code(response)) == (403, "forbidden")
    # account key on an inbox route
    response = httpx.get(
        f"{base}/v1/inboxes/{inbox_id}/messages", headers=bearer(mine["account_key"])
    )
    assert (response.status_code, error_code(response)) == (403, "forbidden")
    # another workspace's inbox, with either kind of key: 404, never 403
    foreign = theirs["inbox"]["id"]
    for path in ("messages", "otp", "artifacts", "wait?timeout=0"):
        response = httpx.get(
            f"{base}/v1/inboxes/{foreign}/{path}", headers=bearer(mine["inbox_key"])
        )
        assert (response.status_code, error_code(response)) == (404, "not_found"), path
    response = httpx.post(f"{base}/v1/inboxes/{foreign}/keys", headers=bearer(mine["account_key"]))
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = httpx.get(f"{base}/v1/inboxes/{foreign}", headers=bearer(mine["account_key"]))
    assert response.status_code == 404


def test_create_inboxes_and_mint_keys(live_server: LiveServer) -> None:
    base = live_server.base_url
    account = bearer(signup(base)["account_key"])
    created = httpx.post(
        f"{base}/v1/inboxes",
        json={"local_part": "Billing", "display_name": "Billing bot"},
        headers=account,
    )
    assert created.status_code == 201
    inbox = created.json()
    assert inbox["address"] == "billing@dispatch.test"
    assert inbox["display_name"] == "Billing bot"
    random = httpx.post(f"{base}/v1/inboxes", headers=account).json()
    assert random["address"].endswith("@dispatch.test") and random["address"] != inbox["address"]
    again = httpx.post(f"{base}/v1/inboxes", json={"local_part": "billing"}, headers=account)
    assert (again.status_code, error_code(again)) == (409, "address_taken")
    listed = httpx.get(f"{base}/v1/inboxes", headers=account).json()["data"]
    assert [i["id"] for i in listed][-2:] == [inbox["id"], random["id"]]

    key = httpx.post(f"{base}/v1/inboxes/{inbox['id']}/keys", json={"label": "ci"}, headers=account)
    assert key.status_code == 201
    minted = key.json()
    assert (
        minted["kind"] == "inbox" and minted["inbox_id"] == inbox["id"] and minted["label"] == "ci"
    )
    assert minted["key"].startswith(minted["id"] + ".")
    page = httpx.get(f"{base}/v1/inboxes/{inbox['id']}/messages", headers=bearer(minted["key"]))
    assert page.status_code == 200
    assert page.json() == {"data": [], "next_cursor": None}
    other = httpx.get(f"{base}/v1/inboxes/{random['id']}/messages", headers=bearer(minted["key"]))
    assert other.status_code == 404


def test_unknown_route_and_method_are_json(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.base_url}/v1/nope")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    response = httpx.delete(f"{live_server.base_url}/v1/agent/signup")
    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "folder=trash", "cursor=%%%", "cursor=bm9wZQ"]
)
def test_bad_list_parameters_are_400(live_server: LiveServer, query: str) -> None:
    result = signup(live_server.base_url)
    response = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{result['inbox']['id']}/messages?{query}",
        headers=bearer(result["inbox_key"]),
    )
    assert response.status_code == 400
    assert error_code(response) in ("invalid_request", "invalid_cursor")


def test_openapi_document_lists_exactly_the_served_routes(live_server: LiveServer) -> None:
    from dispatch_server.app import ROUTES

    document = httpx.get(f"{live_server.base_url}/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    served = {
        (route.path, method.lower())
        for route in ROUTES
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
    text = str(document)
    for ref in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert ref in document["components"]["schemas"], ref


def test_nul_characters_are_a_400_not_a_database_error(live_server: LiveServer) -> None:
    result = signup(live_server.base_url)
    inbox_key = bearer(result["inbox_key"])
    base = f"{live_server.base_url}/v1/inboxes/{result['inbox']['id']}"
    for response in (
        httpx.get(f"{base}/wait?timeout=0&subject=a%00b", headers=inbox_key),
        httpx.get(f"{live_server.base_url}/v1/inboxes/a%00b/messages", headers=inbox_key),
        httpx.post(f"{live_server.base_url}/v1/agent/signup", json={"name": "a\u0000b"}),
    ):
        assert response.status_code == 400, response.text
        assert error_code(response) == "invalid_request"
