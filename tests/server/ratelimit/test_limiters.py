"""The limiter backends, in memory and on a real Redis, held to the same answers by a clock
the tests move: bursts, refills, resets, the values the headers report, all-or-nothing over
a request's buckets, bounded memory, and concurrent requests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from dispatch_server.ratelimit._memory import MemoryLimiter
from dispatch_server.ratelimit._redis import RedisLimiter
from dispatch_server.ratelimit.gcra import Decision
from dispatch_server.ratelimit.limiter import Limiter
from dispatch_server.ratelimit.policy import Bucket, Dimension, Policy, Rate

pytestmark = pytest.mark.anyio


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bucket(subject: str, rate: Rate, dimension: Dimension = Dimension.ADDRESS) -> Bucket:
    return Bucket(Policy.SIGNUP, dimension, subject, rate)


MakeLimiter = Callable[[Clock], Limiter]


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(
    request: pytest.FixtureRequest,
) -> AsyncIterator[MakeLimiter]:
    """Limiters on one clock; Redis ones share a fresh key prefix (two of them are two API
    processes)."""
    made: list[Limiter] = []
    prefix = f"test:{uuid.uuid4().hex}:"

    def make(clock: Clock) -> Limiter:
        limiter: Limiter
        if request.param == "memory":
            limiter = MemoryLimiter(max_clients=1000, clock=clock)
        else:
            url = request.getfixturevalue("redis_url")
            limiter = RedisLimiter(url, prefix=prefix, timeout=2, fail_open=False, clock=clock)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()


async def hits(limiter: Limiter, *buckets: Bucket, times: int = 1) -> list[Decision]:
    found = []
    for _ in range(times):
        decision = await limiter.hit(buckets)
        assert decision is not None
        found.append(decision)
    return found


async def test_a_burst_of_the_limit_passes_then_one_per_interval(
    make_limiter: MakeLimiter,
) -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    three_an_hour = bucket("203.0.113.7", Rate(3, 3600))
    decisions = await hits(limiter, three_an_hour, times=4)
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    # Full again 20, 40, 60 minutes after the first; the fourth may come 20 minutes later.
    assert [d.reset_seconds for d in decisions] == [1200, 2400, 3600, 3600]
    assert [d.retry_seconds for d in decisions] == [0, 0, 0, 1200]
    clock.advance(1199)
    assert [d.allowed for d in await hits(limiter, three_an_hour)] == [False]
    clock.advance(1)
    (one_more,) = await hits(limiter, three_an_hour)
    assert (one_more.allowed, one_more.remaining) == (True, 0)
    assert not (await hits(limiter, three_an_hour))[0].allowed


async def test_the_whole_limit_is_back_after_the_period(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    limiter = make_limiter(clock)
    two_a_minute = bucket("198.51.100.1", Rate(2, 60))
    assert [d.allowed for d in await hits(limiter, two_a_minute, times=3)] == [
        True,
        True,
        False,
    ]
    clock.advance(60)
    decisions = await hits(limiter, two_a_minute, times=3)
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 1), (True, 0), (False, 0)]


async def test_refused_requests_use_nothing(make_limiter: MakeLimiter) -> None:
    """Hammering while refused does not push the next allowed request further away."""
    clock = Clock()
    limiter = make_limiter(clock)
    one_a_minute = bucket("198.51.100.2", Rate(1, 60))
    await hits(limiter, one_a_minute)
    refused = await hits(limiter, one_a_minute, times=50)
    assert {(d.allowed, d.retry_seconds) for d in refused} == {(False, 60)}
    clock.advance(60)
    assert (await hits(limiter, one_a_minute))[0].allowed


async def test_clients_have_buckets_of_their_own(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(Clock())
    rate = Rate(1, 60)
    assert (await hits(limiter, bucket("192.0.2.1", rate)))[0].allowed
    assert not (await hits(limiter, bucket("192.0.2.1", rate)))[0].allowed
    assert (await hits(limiter, bucket("192.0.2.2", rate)))[0].allowed


async def test_a_request_passes_only_if_every_bucket_lets_it_and_then_pays_all(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter(Clock())
    address = bucket("192.0.2.9", Rate(10, 60))
    key_a = bucket("key-a", Rate(2, 60), Dimension.KEY)
    key_b = bucket("key-b", Rate(2, 60), Dimension.KEY)
    first, second, third = await hits(limiter, address, key_a, times=3)
    # The key's bucket is the tighter one: it is the one reported, and it refuses.
    assert (first.bucket, first.remaining, first.rates) == (key_a, 1, (Rate(10, 60), Rate(2, 60)))
    assert (second.allowed, third.allowed, third.bucket) == (True, False, key_a)
    # The refused request did not use the address's bucket: 10 - 2 used, 8 left; another
    # key from the same address gets 7 left after its request.
    (other,) = await hits(limiter, address, key_b)
    assert other.allowed
    (alone,) = await hits(limiter, address)
    assert alone.remaining == 6


async def test_concurrent_requests_pass_exactly_the_limit(make_limiter: MakeLimiter) -> None:
    """60 requests at once, through two limiters (two API processes when on Redis; two
    independent counts in memory, so there each one gets the limit): exactly 7 each."""
    clock = Clock()
    first, second = make_limiter(clock), make_limiter(clock)
    seven = bucket("192.0.2.77", Rate(7, 3600))
    results = await asyncio.gather(*(limiter.hit([seven]) for limiter in (first, second) * 30))
    allowed = sum(1 for d in results if d is not None and d.allowed)
    shared = isinstance(first, RedisLimiter)
    assert allowed == (7 if shared else 14)


async def test_memory_stays_bounded_under_a_flood_of_addresses() -> None:
    clock = Clock()
    limiter = MemoryLimiter(max_clients=500, clock=clock)
    rate = Rate(5, 60)
    family = bucket("x", rate).family
    for n in range(20_000):
        await limiter.hit([bucket(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", rate)])
        assert limiter.clients(family) <= 500
    assert limiter.clients(family) == 500
    # One request costs 12 s of a bucket: twelve seconds on, every one of them is full
    # again and is forgotten at the next request.
    clock.advance(12)
    await limiter.hit([bucket("192.0.2.1", rate)])
    assert limiter.clients(family) == 1


async def test_forgetting_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    limiter = MemoryLimiter(max_clients=10, clock=Clock())
    for n in range(100):
        await limiter.hit([bucket(f"192.0.2.{n}", Rate(5, 60))])
    forgotten = [r for r in caplog.records if "clients of signup:address" in r.getMessage()]
    assert len(forgotten) == 1


async def test_expired_buckets_leave_while_live_ones_stay() -> None:
    """The front of a family is dropped only when full again: a client paid into earlier
    but with more used stays counted."""
    clock = Clock()
    limiter = MemoryLimiter(max_clients=1000, clock=clock)
    rate = Rate(3, 60)  # 20 s per request
    heavy, light = bucket("192.0.2.1", rate), bucket("192.0.2.2", rate)
    await hits(limiter, heavy, times=3)  # full again in 60 s
    clock.advance(1)
    await hits(limiter, light)  # full again in 20 s (at 21 s)
    clock.advance(25)
    await hits(limiter, bucket("192.0.2.3", rate))
    assert limiter.clients(heavy.family) == 3  # heavy is first and not yet full: kept
    (again,) = await hits(limiter, heavy)
    assert (again.allowed, again.remaining) == (True, 0)  # 26 s on: one request back
