"""Route rate limits over real HTTP: the 429 and its headers, the headers of allowed
answers, concurrent requests against one server and against two sharing a real Redis,
X-Forwarded-For with and without trusted proxies, per-key limits, limits switched off, and a
Redis that does not answer. Signups run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.routing import Route

from dispatch_client import Dispatch, RateLimitError
from dispatch_server.auth.principal import Scope
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.ratelimit.policy import Policy
from tests.conftest import LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import bearer, error_code
from tests.redis_server import free_port

SIGNUP = "/v1/agent/signup"
RATELIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@pytest.fixture
def sqlite_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """For tests where the database plays no part."""
    yield from fresh_database_url("sqlite", tmp_path_factory, request)


@contextmanager
def running(
    database_url: str,
    variables: Mapping[str, str] | None = None,
    /,
    *,
    routes: tuple[Route, ...] = (),
    **more: str,
) -> Iterator[LiveServer]:
    """A server with rate limits on, and `variables` and `more` as its environment's
    overrides."""
    env = {"DISPATCH_RATE_LIMITS": "true", **(variables or {}), **more}
    settings = make_settings(database_url, **env)
    thread = _ServerThread(settings)
    thread.app.router.routes.extend(routes)
    live = thread.start()
    try:
        yield live
    finally:
        thread.stop()


def limits(header: httpx.Headers) -> tuple[str | None, ...]:
    return tuple(header.get(name) for name in (*RATELIMIT_HEADERS, "ratelimit-policy"))


def test_signups_over_the_limit_get_429_with_retry_after_and_ratelimit_headers(
    database_url: str,
) -> None:
    with running(database_url, DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS="3/1h") as server:
        answers = [httpx.post(server.base_url + SIGNUP, json={}) for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    # 3 an hour: one request's share comes back every 20 minutes.
    assert [limits(a.headers) for a in answers] == [
        ("3", "2", "1200", "3;w=3600"),
        ("3", "1", "2400", "3;w=3600"),
        ("3", "0", "3600", "3;w=3600"),
        ("3", "0", "3600", "3;w=3600"),
    ]
    refused = answers[3]
    assert error_code(refused) == "rate_limited"
    assert refused.headers["retry-after"] == "1200"
    assert "signup limit is 3/1h per client address" in refused.json()["error"]["message"]
    assert all("retry-after" not in a.headers for a in answers[:3])


def test_an_error_on_a_limited_route_counts_and_says_what_is_left(sqlite_url: str) -> None:
    with running(sqlite_url, DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS="2/1h") as server:
        bad = httpx.post(server.base_url + SIGNUP, json={"local_part": "-bad"})
        good = httpx.post(server.base_url + SIGNUP, json={})
        over = httpx.post(server.base_url + SIGNUP, json={})
    assert (bad.status_code, error_code(bad)) == (400, "invalid_request")
    assert limits(bad.headers)[:2] == ("2", "1")
    assert (good.status_code, over.status_code) == (201, 429)


async def _post_all(urls: list[str], **kwargs: object) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(*(client.post(url, **kwargs) for url in urls))  # type: ignore[arg-type]
    return [a.status_code for a in answers]


def test_concurrent_signups_admit_exactly_the_limit(database_url: str) -> None:
    with running(database_url, DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS="7/1h") as server:
        statuses = asyncio.run(_post_all([server.base_url + SIGNUP] * 30, json={}))
    assert sorted(statuses) == [201] * 7 + [429] * 23


def test_two_servers_on_one_redis_share_the_limit_exactly(
    database_url: str, redis_url: str
) -> None:
    shared = {
        "DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS": "7/1h",
        "DISPATCH_REDIS_URL": redis_url,
        "DISPATCH_REDIS_KEY_PREFIX": f"test:{uuid.uuid4().hex}:",
        # Exactness is the point here, not the outage mode: a loaded machine that makes
        # Redis slower than the default 0.5 s must not let requests through uncounted.
        "DISPATCH_REDIS_TIMEOUT_SECONDS": "10",
        "DISPATCH_RATE_LIMIT_REDIS_FAILURE": "closed",
    }
    with running(database_url, shared) as one, running(database_url, shared) as two:
        urls = [one.base_url + SIGNUP, two.base_url + SIGNUP] * 20
        statuses = asyncio.run(_post_all(urls, json={}))
        # Both report the one count.
        after = [httpx.post(s.base_url + SIGNUP, json={}) for s in (one, two)]
    assert sorted(statuses) == [201] * 7 + [429] * 33
    assert [(a.status_code, a.headers["ratelimit-remaining"]) for a in after] == [
        (429, "0"),
        (429, "0"),
    ]


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(sqlite_url: str) -> None:
    """Without DISPATCH_TRUSTED_PROXIES anyone could claim any address in the header, and
    get a fresh limit with every request."""
    with running(sqlite_url, DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS="2/1h") as server:
        statuses = [
            httpx.post(
                server.base_url + SIGNUP, json={}, headers={"x-forwarded-for": f"198.51.100.{n}"}
            ).status_code
            for n in range(4)
        ]
    assert statuses == [201, 201, 429, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(sqlite_url: str) -> None:
    variables = {
        "DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS": "2/1h",
        "DISPATCH_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
    }
    with running(sqlite_url, variables) as server:

        def status(forwarded: str) -> int:
            headers = {"x-forwarded-for": forwarded}
            return httpx.post(server.base_url + SIGNUP, json={}, headers=headers).status_code

        first = [status("198.51.100.1") for _ in range(3)]
        # Through a second trusted proxy (10.0.0.5), the same client.
        chained = status("198.51.100.1, 10.0.0.5")
        other = status("198.51.100.2")
        # A client writing someone else's address in front: the proxy appended its real one.
        spoofed = status("198.51.100.2, 203.0.113.9")
    assert first == [201, 201, 429]
    assert (chained, other, spoofed) == (429, 201, 201)


async def limited(call: Call[None]) -> JSONResponse:
    return JSONResponse({"key_id": call.principal.key_id})


BILLING_ROUTE = Endpoint(
    method="GET",
    path="/v1/test/billing",
    handler=limited,
    summary="a keyed route of the billing policy, for the test",
    scope=Scope.ACCOUNT,
    rate_limit=Policy.BILLING,
).route()


def test_per_key_limits_count_each_key_and_the_address_counts_all(sqlite_url: str) -> None:
    variables = {
        "DISPATCH_RATE_LIMIT_BILLING_PER_ADDRESS": "5/1h",
        "DISPATCH_RATE_LIMIT_BILLING_PER_KEY": "2/1h",
    }
    with running(sqlite_url, variables, routes=(BILLING_ROUTE,)) as server:
        url = server.base_url + "/v1/test/billing"
        keys = [httpx.post(server.base_url + SIGNUP, json={}).json()["account_key"] for _ in "abc"]
        first = [httpx.get(url, headers=bearer(keys[0])) for _ in range(3)]
        second = [httpx.get(url, headers=bearer(keys[1])) for _ in range(2)]
        # A refused (unknown) key is no key: only the address counts it, and it is the 5th.
        unknown = httpx.get(url, headers=bearer("nokey.nosecret"))
        # A fresh key passes its own bucket, not the address's.
        last = httpx.get(url, headers=bearer(keys[2]))
    assert [a.status_code for a in first] == [200, 200, 429]
    assert first[0].headers["ratelimit-policy"] == "5;w=3600, 2;w=3600"
    assert limits(first[1].headers)[:2] == ("2", "0")  # the key's bucket is the tighter
    assert "per API key" in first[2].json()["error"]["message"]
    assert [a.status_code for a in second] == [200, 200]
    assert unknown.status_code == 401 and unknown.headers["ratelimit-remaining"] == "0"
    assert last.status_code == 429 and "per client address" in last.json()["error"]["message"]


def test_webhooks_are_limited_before_their_token_is_checked(sqlite_url: str) -> None:
    with running(sqlite_url, DISPATCH_RATE_LIMIT_WEBHOOK_PER_ADDRESS="2/1h") as server:
        url = server.base_url + "/v1/webhooks/inbound"
        statuses = [
            httpx.post(url, json={}, headers={"x-dispatch-inbound-token": "wrong"}).status_code
            for _ in range(3)
        ]
        sns = httpx.post(server.base_url + "/v1/webhooks/sns", content=b"{}")
    assert statuses == [401, 401, 429]
    assert sns.status_code == 429  # one policy, one count, for every webhook


@pytest.mark.parametrize(
    "variables",
    [{"DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS": "off"}, {"DISPATCH_RATE_LIMITS": "false"}],
)
def test_limits_switched_off(sqlite_url: str, variables: dict[str, str]) -> None:
    with running(sqlite_url, variables) as server:
        answers = [httpx.post(server.base_url + SIGNUP, json={}) for _ in range(40)]
    assert {a.status_code for a in answers} == {201}
    assert all("ratelimit-limit" not in a.headers for a in answers)


@pytest.mark.parametrize("failure", ["open", "closed"])
def test_a_redis_that_does_not_answer(sqlite_url: str, failure: str) -> None:
    variables = {
        "DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS": "1/1h",
        "DISPATCH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "DISPATCH_RATE_LIMIT_REDIS_FAILURE": failure,
    }
    with running(sqlite_url, variables) as server:
        answers = [httpx.post(server.base_url + SIGNUP, json={}) for _ in range(3)]
    if failure == "open":
        assert [a.status_code for a in answers] == [201, 201, 201]
        assert all("ratelimit-limit" not in a.headers for a in answers)
    else:
        assert {(a.status_code, error_code(a)) for a in answers} == {
            (503, "rate_limiter_unavailable")
        }


def test_the_sdk_waits_out_retry_after_and_raises_a_rate_limit_error(sqlite_url: str) -> None:
    with running(sqlite_url, DISPATCH_RATE_LIMIT_SIGNUP_PER_ADDRESS="1/1s") as server:
        with Dispatch(base_url=server.base_url) as client:
            client.agent.signup()
            # 429 with Retry-After: 1; the SDK waits the second and the retry passes.
            client.agent.signup()
        with (
            Dispatch(base_url=server.base_url, max_retries=0) as client,
            pytest.raises(RateLimitError) as caught,
        ):
            client.agent.signup()
    assert caught.value.status_code == 429 and caught.value.code == "rate_limited"
    assert caught.value.retry_after == 1.0
