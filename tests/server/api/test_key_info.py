"""`GET /v1/auth/me`: what the presented key is and may do, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from dispatch_server.api import endpoints
from dispatch_server.auth.policy import PERMISSIONS
from dispatch_server.auth.principal import Scope
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from tests.conftest import LiveServer
from tests.helpers import bearer, error_code, signup

FIELDS = {
    "kind",
    "key_id",
    "workspace_id",
    "agent_id",
    "inbox_id",
    "inbox_address",
    "permissions",
    "restricted",
    "allowed_senders",
    "expires_at",
}


def me(server: LiveServer, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{server.base_url}/v1/auth/me", headers=headers)


def test_an_account_key(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, name="me-bot")
    response = me(live_server, bearer(account["account_key"]))
    assert response.status_code == 200
    assert response.json() == {
        "kind": "account",
        "key_id": account["account_key"].partition(".")[0],
        "workspace_id": account["workspace"]["id"],
        "agent_id": account["agent"]["id"],
        "inbox_id": None,
        "inbox_address": None,
        "permissions": [
            "inboxes",
            "inbox_keys",
            "read",
            "send",
            "events",
            "webhooks",
            "billing",
            "suppressions",
            "lists",
            "domains",
        ],
        "restricted": False,
        "allowed_senders": None,
        "expires_at": None,
    }


def test_an_inbox_key(live_server: LiveServer) -> None:
    account = signup(live_server.base_url, local_part=f"me-{uuid.uuid4().hex[:8]}")
    inbox = account["inbox"]
    response = me(live_server, bearer(account["inbox_key"]))
    assert response.status_code == 200
    assert response.json() == {
        "kind": "inbox",
        "key_id": account["inbox_key"].partition(".")[0],
        "workspace_id": account["workspace"]["id"],
        "agent_id": account["agent"]["id"],
        "inbox_id": inbox["id"],
        "inbox_address": inbox["address"],
        "permissions": ["read", "wait", "send", "memory", "organize"],
        "restricted": False,
        "allowed_senders": None,
        "expires_at": None,
    }


def test_a_minted_key_of_a_second_inbox(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    headers = bearer(account["account_key"])
    second = httpx.post(f"{live_server.base_url}/v1/inboxes", headers=headers, json={}).json()
    minted = httpx.post(
        f"{live_server.base_url}/v1/inboxes/{second['id']}/keys", headers=headers
    ).json()
    body = me(live_server, bearer(minted["key"])).json()
    assert (body["key_id"], body["inbox_id"], body["inbox_address"]) == (
        minted["id"],
        second["id"],
        second["address"],
    )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic abc",
        "Bearer nodot",
        "Bearer not-a-uuid.secret",
        f"Bearer {uuid.uuid4()}.unknown-key",
    ],
)
def test_no_key_or_a_malformed_one_is_401(live_server: LiveServer, header: str | None) -> None:
    response = me(live_server, {"Authorization": header} if header else {})
    assert (response.status_code, error_code(response)) == (401, "unauthorized")


def test_a_wrong_secret_and_a_revoked_key_are_401(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox_id = account["inbox"]["id"]
    key_id = account["account_key"].partition(".")[0]
    wrong = me(live_server, bearer(f"{key_id}.guessed"))
    assert (wrong.status_code, error_code(wrong)) == (401, "unauthorized")
    keys = f"{live_server.base_url}/v1/inboxes/{inbox_id}/keys"
    minted = httpx.post(keys, headers=bearer(account["account_key"])).json()
    assert me(live_server, bearer(minted["key"])).status_code == 200
    revoked = httpx.delete(f"{keys}/{minted['id']}", headers=bearer(account["account_key"]))
    assert revoked.status_code == 200
    refused = me(live_server, bearer(minted["key"]))
    assert (refused.status_code, error_code(refused)) == (401, "unauthorized")
    assert refused.json() == wrong.json()  # the same answer whatever is wrong with the key


def _every_row(conn: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table.name: sorted(
            (tuple(row) for row in conn.execute(sa.select(table))), key=lambda row: repr(row)
        )
        for table in t.metadata.sorted_tables
    }


def snapshot(server: LiveServer) -> dict[str, list[tuple[Any, ...]]]:
    async def read() -> dict[str, list[tuple[Any, ...]]]:
        db = Database(server.database_url)
        try:
            return await db.run_read(_every_row)
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_asking_changes_nothing(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    before = snapshot(live_server)
    for key in (account["account_key"], account["inbox_key"], account["inbox_key"]):
        assert me(live_server, bearer(key)).status_code == 200
    assert me(live_server, bearer("nodot")).status_code == 401
    assert snapshot(live_server) == before
    response = me(live_server, bearer(account["inbox_key"]))
    assert set(response.json()) == FIELDS
    assert "idempotent-replayed" not in response.headers


def test_the_route_is_documented_for_any_key() -> None:
    [endpoint] = [e for e in endpoints() if e.path == "/v1/auth/me"]
    assert (endpoint.method, endpoint.scope) == ("GET", Scope.ANY_KEY)
    assert endpoint.body is None and not endpoint.idempotent


def test_the_docs_explain_every_permission() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "api.md").read_text()
    section = docs[docs.index("### What is this key?") :]
    section = section[: section.index("\n## ")]
    explained = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert explained == {word for words in PERMISSIONS.values() for word in words}
