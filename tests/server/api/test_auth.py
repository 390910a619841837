"""API keys and their scopes: who may touch what, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import bearer, error_code, signup


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


def test_every_refused_key_gets_the_same_answer(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A different message per reason would tell a prober which key ids exist, and which of
    # them were revoked; the reason goes to the server's log instead.
    base = live_server.base_url
    account = signup(base)
    inbox_id = account["inbox"]["id"]
    keys = f"{base}/v1/inboxes/{inbox_id}/keys"
    minted = httpx.post(keys, headers=bearer(account["account_key"])).json()
    revoked = httpx.delete(f"{keys}/{minted['id']}", headers=bearer(account["account_key"]))
    assert revoked.status_code == 200, revoked.text
    key_id = account["account_key"].split(".")[0]
    headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer nodot"},
        bearer(f"{uuid.uuid4()}.secret"),
        bearer(f"{key_id}.guessed"),
        bearer(minted["key"]),
    ]
    with caplog.at_level("INFO", logger="dispatch_server.http"):
        answers = [httpx.get(f"{base}/v1/inboxes/{inbox_id}/messages", headers=h) for h in headers]
    assert {a.status_code for a in answers} == {401}
    bodies = [a.json() for a in answers]
    assert bodies == [bodies[0]] * len(bodies), bodies
    assert bodies[0]["error"]["code"] == "unauthorized"
    # the log says why (caplog sees the server thread's records: one process)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for reason in ("no Authorization header", "not a Bearer", "malformed key", "unknown key"):
        assert reason in logged
    assert f"wrong secret for key {key_id}" in logged
    assert f"revoked key {minted['id']}" in logged


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
