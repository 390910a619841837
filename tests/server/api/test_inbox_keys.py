"""An inbox's keys: mint, list, revoke, and where they work."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, error_code, signup


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


def test_revoking_a_key_ends_the_wait_it_has_open(live_server: LiveServer) -> None:
    """A wait outlives the check at its start: mail that arrives after the revocation must not
    reach the revoked key."""
    account = signup(live_server.base_url)
    inbox = account["inbox"]
    base = f"{live_server.base_url}/v1/inboxes/{inbox['id']}"
    minted = httpx.post(f"{base}/keys", headers=bearer(account["account_key"])).json()
    answers: list[httpx.Response] = []

    def wait() -> None:
        params = {"kind": "otp", "timeout": "20", "since": "2000-01-01T00:00:00Z"}
        answers.append(
            httpx.get(f"{base}/wait", params=params, headers=bearer(minted["key"]), timeout=30)
        )

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)  # the wait is open
    revoked = httpx.delete(f"{base}/keys/{minted['id']}", headers=bearer(account["account_key"]))
    assert revoked.status_code == 200
    delivered = httpx.post(
        f"{live_server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
        json={"to": inbox["address"], "subject": "Code", "text": "Your code is 482913"},
    )
    assert delivered.status_code == 201
    waiter.join(timeout=30)
    [answer] = answers
    assert (answer.status_code, error_code(answer)) == (401, "unauthorized")
    assert "482913" not in answer.text
