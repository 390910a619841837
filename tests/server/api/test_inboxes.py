"""Inboxes: create, list (paged), read, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import bearer, error_code, signup


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
