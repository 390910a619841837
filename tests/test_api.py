"""Signup, auth scopes, inboxes and keys over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

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
    # account key on an inbox route of its own workspace: 403, saying which key to use
    response = httpx.get(
        f"{base}/v1/inboxes/{inbox_id}/messages", headers=bearer(mine["account_key"])
    )
    assert (response.status_code, error_code(response)) == (403, "forbidden")
    assert f"/v1/inboxes/{inbox_id}/keys" in response.json()["error"]["message"]
    # another workspace's inbox, or none at all, with either kind of key: 404, never 403
    foreign = theirs["inbox"]["id"]
    message = f"messages/{uuid.uuid4()}"
    for inbox in (foreign, str(uuid.uuid4()), "not-an-id"):
        for path in ("messages", message, f"{message}/raw", "otp", "artifacts", "wait?timeout=0"):
            for key in (mine["inbox_key"], mine["account_key"]):
                response = httpx.get(f"{base}/v1/inboxes/{inbox}/{path}", headers=bearer(key))
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
    from dispatch_server.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(live_server.database_url))
    document = httpx.get(f"{live_server.base_url}/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
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


def test_an_oversized_json_body_is_refused_before_it_is_sent(live_server: LiveServer) -> None:
    """The server answers 413 on the declared length, without waiting for (or buffering) the
    400 MB it announces."""
    host, port = live_server.base_url.removeprefix("http://").split(":")
    head = (
        "POST /v1/agent/signup HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {400 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(head.encode() + b'{"name": "')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "payload_too_large"


def test_an_oversized_streamed_json_body_is_413(live_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(64):
            yield b"x" * 65536

    response = httpx.post(f"{live_server.base_url}/v1/agent/signup", content=chunks())
    assert (response.status_code, error_code(response)) == (413, "payload_too_large")


def _post_raw(url: str, raw: bytes, key: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", **(bearer(key) if key else {})}
    return httpx.post(url, content=raw, headers=headers)


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"name": "\ud800"}',
        rb'{"name": "x\udfff"}',
        rb'{"local_part": "\udc80abc"}',
        b"[" * 100_000,
        b'{"name":' * 50_000,
    ],
)
def test_json_that_cannot_be_stored_is_400_on_signup(live_server: LiveServer, raw: bytes) -> None:
    response = _post_raw(f"{live_server.base_url}/v1/agent/signup", raw)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")


def test_lone_surrogates_are_400_on_every_json_route(live_server: LiveServer) -> None:
    base = live_server.base_url
    account = signup(base)
    key = account["account_key"]
    inbox = f"{base}/v1/inboxes/{account['inbox']['id']}"
    for url, raw in (
        (f"{base}/v1/inboxes", rb'{"display_name": "Bot \ud83d"}'),
        (f"{inbox}/keys", rb'{"label": "\ude00"}'),
    ):
        response = _post_raw(url, raw, key)
        assert (response.status_code, error_code(response)) == (400, "invalid_request"), url
    # a proper surrogate pair is an ordinary character
    response = _post_raw(f"{base}/v1/inboxes", rb'{"display_name": "Bot \ud83d\ude00"}', key)
    assert response.status_code == 201
    assert response.json()["display_name"] == "Bot \U0001f600"


def test_every_response_has_a_request_id(live_server: LiveServer) -> None:
    base = live_server.base_url
    responses = [
        httpx.get(f"{base}/health"),
        httpx.get(f"{base}/v1/nope"),
        httpx.get(f"{base}/v1/inboxes"),
        httpx.get(f"{base}/v1/inboxes/a%00b"),
        httpx.post(f"{base}/v1/agent/signup", content=b"{"),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    echoed = httpx.get(f"{base}/health", headers={"x-request-id": "client-7f3a"})
    assert echoed.headers["x-request-id"] == "client-7f3a"


def _documented_error_codes() -> list[tuple[int, str, str]]:
    """The rows of the error table in docs/api.md: (status, code, when)."""
    docs = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \| (.*) \|$", docs, flags=re.M)
    return [(int(status), code, when) for status, code, when in rows]


def test_the_error_table_is_the_catalogue() -> None:
    """docs/api.md lists every code of the catalogue once, with its status and sentence."""
    from dispatch_server.core.errors import ErrorCode
    from dispatch_server.http.errors import STATUS

    catalogue = [(STATUS[code], str(code), code.description) for code in ErrorCode]
    assert sorted(_documented_error_codes()) == sorted(catalogue)


def test_every_error_code_has_an_http_status_and_the_smtp_door_maps_its_own() -> None:
    from dispatch_server.core.errors import ErrorCode
    from dispatch_server.http.errors import STATUS
    from dispatch_server.ingest.doors.smtp import REPLIES

    assert set(STATUS) == set(ErrorCode)
    assert all(400 <= status < 600 for status in STATUS.values())
    assert all(reply[0] in "45" for reply in REPLIES.values())


def test_inbox_listing_pages_oldest_first(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    headers = bearer(account["account_key"])
    url = f"{live_server.base_url}/v1/inboxes"
    created = [account["inbox"]["id"]]
    for _ in range(3):
        response = httpx.post(url, headers=headers, json={})
        assert response.status_code == 201
        created.append(response.json()["id"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = httpx.get(url, headers=headers, params=params).json()
        assert set(body) == {"data", "next_cursor"}
        seen += [inbox["id"] for inbox in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == created and pages == 2
    other = signup(live_server.base_url)
    other_page = httpx.get(url, headers=bearer(other["account_key"])).json()
    assert [i["id"] for i in other_page["data"]] == [other["inbox"]["id"]]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=bm9wZQ"])
def test_inbox_listing_rejects_bad_paging(live_server: LiveServer, query: str) -> None:
    account = signup(live_server.base_url)
    response = httpx.get(
        f"{live_server.base_url}/v1/inboxes?{query}", headers=bearer(account["account_key"])
    )
    assert response.status_code == 400
    assert error_code(response) in ("invalid_request", "invalid_cursor")


def test_inbox_keys_list_and_revoke(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox_id = account["inbox"]["id"]
    headers = bearer(account["account_key"])
    keys_url = f"{live_server.base_url}/v1/inboxes/{inbox_id}/keys"
    messages_url = f"{live_server.base_url}/v1/inboxes/{inbox_id}/messages"
    minted = httpx.post(keys_url, headers=headers, json={"label": "ci"}).json()
    assert minted["revoked_at"] is None and minted["key"].startswith(minted["id"] + ".")
    listed = httpx.get(keys_url, headers=headers).json()
    assert [k["label"] for k in listed["data"]] == ["default", "ci"]
    assert all("key" not in k and k["kind"] == "inbox" for k in listed["data"])
    assert httpx.get(messages_url, headers=bearer(minted["key"])).status_code == 200

    revoked = httpx.delete(f"{keys_url}/{minted['id']}", headers=headers)
    assert revoked.status_code == 200
    body = revoked.json()
    assert body["id"] == minted["id"] and body["revoked_at"] is not None
    assert "key" not in body
    refused = httpx.get(messages_url, headers=bearer(minted["key"]))
    assert refused.status_code == 401 and error_code(refused) == "unauthorized"
    again = httpx.delete(f"{keys_url}/{minted['id']}", headers=headers)
    assert again.status_code == 200 and again.json() == body
    remaining = httpx.get(keys_url, headers=headers).json()["data"]
    assert [k["label"] for k in remaining] == ["default"]
    # the signup's inbox key still works
    assert httpx.get(messages_url, headers=bearer(account["inbox_key"])).status_code == 200


@pytest.mark.parametrize("key_id", [str(uuid.uuid4()), "not-an-id", "%00"])
def test_revoking_an_unknown_key_is_404(live_server: LiveServer, key_id: str) -> None:
    account = signup(live_server.base_url)
    response = httpx.delete(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/keys/{key_id}",
        headers=bearer(account["account_key"]),
    )
    assert response.status_code in (400, 404)
    assert error_code(response) in ("not_found", "invalid_request")


def test_inbox_keys_stay_in_their_workspace_and_inbox(live_server: LiveServer) -> None:
    mine = signup(live_server.base_url)
    theirs = signup(live_server.base_url)
    url = live_server.base_url
    their_key_id = theirs["inbox_key"].partition(".")[0]
    my_headers = bearer(mine["account_key"])
    # another workspace's inbox: 404 for listing and revoking
    for response in (
        httpx.get(f"{url}/v1/inboxes/{theirs['inbox']['id']}/keys", headers=my_headers),
        httpx.delete(
            f"{url}/v1/inboxes/{theirs['inbox']['id']}/keys/{their_key_id}", headers=my_headers
        ),
        # their key through my inbox's path
        httpx.delete(
            f"{url}/v1/inboxes/{mine['inbox']['id']}/keys/{their_key_id}", headers=my_headers
        ),
    ):
        assert response.status_code == 404 and error_code(response) == "not_found"
    # an account key is not an inbox key: it cannot be revoked through an inbox path
    my_account_key_id = mine["account_key"].partition(".")[0]
    response = httpx.delete(
        f"{url}/v1/inboxes/{mine['inbox']['id']}/keys/{my_account_key_id}", headers=my_headers
    )
    assert response.status_code == 404
    # an inbox key may not list or revoke keys
    inbox_headers = bearer(mine["inbox_key"])
    listing = httpx.get(f"{url}/v1/inboxes/{mine['inbox']['id']}/keys", headers=inbox_headers)
    assert listing.status_code == 403 and error_code(listing) == "forbidden"
    assert (
        httpx.get(
            f"{url}/v1/inboxes/{theirs['inbox']['id']}/messages",
            headers=bearer(theirs["inbox_key"]),
        ).status_code
        == 200
    )
