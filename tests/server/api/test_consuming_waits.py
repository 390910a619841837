"""Codes used once: consuming waits (`consume=true`), leases and their confirmation, under
concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import INBOUND_TOKEN, LiveServer
from tests.helpers import bearer, error_code, signup

SINCE = "2000-01-01T00:00:00Z"


def deliver(server: LiveServer, to: str, code: str, sender: str = "no-reply@acme.test") -> None:
    response = httpx.post(
        f"{server.base_url}/v1/webhooks/inbound",
        headers={"x-dispatch-inbound-token": INBOUND_TOKEN},
        json={"to": to, "from": sender, "subject": "Your code", "text": f"Your code is {code}"},
    )
    assert response.status_code == 201, response.text


def consume(
    server: LiveServer, account: dict[str, Any], *, timeout: float = 0, **params: Any
) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/v1/inboxes/{account['inbox']['id']}/wait",
        params={"kind": "otp", "consume": "true", "timeout": str(timeout), **params},
        headers=bearer(account["inbox_key"]),
        timeout=timeout + 30,
    )


def test_concurrent_consuming_waits_share_codes_once(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    address = account["inbox"]["address"]
    waiters = 10
    with ThreadPoolExecutor(max_workers=waiters) as pool:
        futures = [pool.submit(consume, live_server, account, timeout=6) for _ in range(waiters)]
        time.sleep(1.0)  # the waits are open
        deliver(live_server, address, "111111")
        time.sleep(1.0)
        deliver(live_server, address, "222222")
        answers = [future.result() for future in futures]
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    codes = sorted(a.json()["otp"]["code"] for a in answers if a.json()["matched"])
    assert codes == ["111111", "222222"]  # each code went to exactly one waiter
    assert sum(not a.json()["matched"] for a in answers) == waiters - 2
    for answer in answers:
        if answer.json()["matched"]:
            assert answer.json()["otp"]["consumed_at"] is not None
    # Consumed: no consuming wait gets them again, however far back it looks.
    again = consume(live_server, account, since=SINCE)
    assert again.status_code == 200 and again.json()["matched"] is False
    # Non-consuming reads still show the code, with its consumed state.
    latest = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/otp",
        headers=bearer(account["inbox_key"]),
    ).json()["otp"]
    assert latest["code"] == "222222" and latest["consumed_at"] is not None
    assert latest["lease_id"] is None
    plain = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/wait",
        params={"kind": "otp", "timeout": "0", "since": SINCE},
        headers=bearer(account["inbox_key"]),
    ).json()
    assert plain["otp"]["code"] == "222222" and plain["otp"]["consumed_at"] is not None


def test_many_consumers_one_code_already_there(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    deliver(live_server, account["inbox"]["address"], "333333")
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: consume(live_server, account, timeout=1), range(10)))
    matched = [a.json() for a in answers if a.json()["matched"]]
    assert [m["otp"]["code"] for m in matched] == ["333333"]


def test_a_consuming_wait_takes_the_newest_free_code(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    address = account["inbox"]["address"]
    deliver(live_server, address, "444444")
    deliver(live_server, address, "555555")
    first = consume(live_server, account).json()
    second = consume(live_server, account).json()
    third = consume(live_server, account).json()
    assert (first["otp"]["code"], second["otp"]["code"]) == ("555555", "444444")
    assert third["matched"] is False


def test_a_lease_returns_the_code_unless_confirmed(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox_id = account["inbox"]["id"]
    deliver(live_server, account["inbox"]["address"], "666666")
    leased = consume(live_server, account, lease_seconds="1").json()["otp"]
    assert leased["code"] == "666666" and leased["lease_id"] and leased["lease_expires_at"]
    assert consume(live_server, account).json()["matched"] is False  # held by the lease
    time.sleep(1.3)
    # Unconfirmed: back in the pool, and the next consuming wait gets it.
    shown = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{inbox_id}/otp", headers=bearer(account["inbox_key"])
    ).json()["otp"]
    assert shown["consumed_at"] is None and shown["lease_expires_at"] is None
    retaken = consume(live_server, account, lease_seconds="30").json()["otp"]
    assert retaken["code"] == "666666" and retaken["lease_id"] != leased["lease_id"]
    confirm_url = f"{live_server.base_url}/v1/inboxes/{inbox_id}/otp/{leased['id']}/confirm"
    late = httpx.post(
        confirm_url, headers=bearer(account["inbox_key"]), json={"lease_id": leased["lease_id"]}
    )
    assert (late.status_code, error_code(late)) == (409, "otp_lease_expired")
    assert late.json()["error"]["param"] == "lease_id"
    confirmed = httpx.post(
        confirm_url, headers=bearer(account["inbox_key"]), json={"lease_id": retaken["lease_id"]}
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()["otp"]
    assert body["code"] == "666666" and body["consumed_at"] and body["lease_expires_at"] is None
    again = httpx.post(
        confirm_url, headers=bearer(account["inbox_key"]), json={"lease_id": retaken["lease_id"]}
    )
    assert again.status_code == 200  # confirming again changes nothing
    time.sleep(0.2)
    assert consume(live_server, account, since=SINCE).json()["matched"] is False


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"consume": "yes"}, "consume"),
        ({"consume": "true", "kind": "message"}, "consume"),
        ({"consume": "true", "kind": "link"}, "consume"),
        ({"consume": "true", "kind": "otp", "lease_seconds": "-1"}, "lease_seconds"),
        ({"consume": "true", "kind": "otp", "lease_seconds": "3601"}, "lease_seconds"),
        ({"consume": "true", "kind": "otp", "lease_seconds": "1.5"}, "lease_seconds"),
        ({"consume": "true", "kind": "otp", "lease_seconds": "x"}, "lease_seconds"),
        ({"kind": "otp", "lease_seconds": "30"}, "lease_seconds"),
    ],
)
def test_bad_consuming_waits_are_400(
    live_server: LiveServer, params: dict[str, str], param: str
) -> None:
    account = signup(live_server.base_url)
    response = httpx.get(
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/wait",
        params={"timeout": "0", **params},
        headers=bearer(account["inbox_key"]),
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", param)


@pytest.mark.parametrize(
    ("otp_id", "body", "status", "code"),
    [
        ("not-an-id", {"lease_id": "x"}, 404, "not_found"),
        ("00000000-0000-4000-8000-000000000000", {"lease_id": "x"}, 404, "not_found"),
        (None, {"lease_id": "wrong"}, 409, "otp_lease_expired"),
        (None, {"lease_id": "x" * 65}, 400, "invalid_request"),
        (None, {}, 400, "invalid_request"),
        (None, {"lease_id": 5}, 400, "invalid_request"),
        (None, {"lease_id": None}, 400, "invalid_request"),
    ],
)
def test_bad_confirmations(
    live_server: LiveServer, otp_id: str | None, body: dict[str, Any], status: int, code: str
) -> None:
    account = signup(live_server.base_url)
    deliver(live_server, account["inbox"]["address"], "777777")
    leased = consume(live_server, account, lease_seconds="60").json()["otp"]
    url = (
        f"{live_server.base_url}/v1/inboxes/{account['inbox']['id']}/otp/"
        f"{otp_id or leased['id']}/confirm"
    )
    response = httpx.post(url, headers=bearer(account["inbox_key"]), json=body)
    assert (response.status_code, error_code(response)) == (status, code), response.text
    assert "500" not in str(response.status_code)


def test_a_consuming_wait_sees_only_its_senders_and_needs_wait(live_server: LiveServer) -> None:
    account = signup(live_server.base_url)
    inbox_id = account["inbox"]["id"]
    keys = f"{live_server.base_url}/v1/inboxes/{inbox_id}/keys"
    headers = bearer(account["account_key"])
    github = httpx.post(
        keys, headers=headers, json={"permissions": ["wait"], "allowed_senders": ["*@github.com"]}
    ).json()["key"]
    reader = httpx.post(keys, headers=headers, json={"permissions": ["read"]}).json()["key"]
    deliver(live_server, account["inbox"]["address"], "888888", sender="x@evil.test")
    url = f"{live_server.base_url}/v1/inboxes/{inbox_id}/wait"
    params = {"kind": "otp", "consume": "true", "timeout": "0", "since": SINCE}
    assert httpx.get(url, params=params, headers=bearer(github)).json()["matched"] is False
    refused = httpx.get(url, params=params, headers=bearer(reader))
    assert (refused.status_code, refused.json()["error"]["param"]) == (403, "wait")
    deliver(live_server, account["inbox"]["address"], "999999", sender="noreply@github.com")
    taken = httpx.get(url, params=params, headers=bearer(github)).json()
    assert taken["otp"]["code"] == "999999"


def test_more_codes_than_a_claim_looks_at_at_once_all_go_out(live_server: LiveServer) -> None:
    """A claim looks at a batch of free codes; when concurrent waits took the whole batch
    meanwhile, it looks at the next at once instead of sleeping while codes are free."""
    account = signup(live_server.base_url)
    codes = [f"{500000 + n}" for n in range(45)]  # more than two batches
    for code in codes:
        deliver(live_server, account["inbox"]["address"], code)
    with ThreadPoolExecutor(max_workers=15) as pool:
        answers = list(
            pool.map(lambda _: consume(live_server, account, timeout=2, since=SINCE), codes)
        )
    taken = [a.json()["otp"]["code"] for a in answers if a.json()["matched"]]
    assert sorted(taken) == codes  # every code, each once
