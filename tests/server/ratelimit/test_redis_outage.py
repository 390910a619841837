"""A Redis that does not answer: limits fail open or closed as set, the outage is logged
once (not per request), and limits apply again once Redis is back. On a real redis-server
the test stops and starts, and on a port where nothing listens."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from dispatch_server.ratelimit._redis import RedisLimiter
from dispatch_server.ratelimit.limiter import LimiterUnavailable
from dispatch_server.ratelimit.policy import Bucket, Dimension, Policy, Rate
from tests.redis_server import TemporaryRedis, free_port

pytestmark = pytest.mark.anyio

TWO = Bucket(Policy.WEBHOOK, Dimension.ADDRESS, "192.0.2.1", Rate(2, 3600))


@pytest.fixture
def own_redis() -> Iterator[TemporaryRedis]:
    server = TemporaryRedis()
    server.start()
    yield server
    server.stop()


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "dispatch_server.ratelimit" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize("fail_open", [True, False])
async def test_nothing_listening(fail_open: bool, caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RedisLimiter(url, prefix="test:", timeout=1, fail_open=fail_open)
    try:
        for _ in range(20):
            if fail_open:
                assert await limiter.hit([TWO]) is None  # passes, uncounted
            else:
                with pytest.raises(LimiterUnavailable):
                    await limiter.hit([TWO])
    finally:
        await limiter.close()
    (line,) = outage_lines(caplog)
    assert "Redis does not answer" in line
    assert ("failing open" if fail_open else "failing closed") in line


@pytest.mark.parametrize("fail_open", [True, False])
async def test_redis_stopped_then_started_again(
    own_redis: TemporaryRedis, fail_open: bool, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisLimiter(own_redis.url, prefix="test:", timeout=1, fail_open=fail_open)
    try:
        first = await limiter.hit([TWO])
        assert first is not None and first.allowed and first.remaining == 1
        own_redis.stop()
        for _ in range(10):
            if fail_open:
                assert await limiter.hit([TWO]) is None
            else:
                with pytest.raises(LimiterUnavailable):
                    await limiter.hit([TWO])
        own_redis.start()  # on the same port, empty (no persistence)
        again = [await limiter.hit([TWO]) for _ in range(3)]
        assert [d is not None and d.allowed for d in again] == [True, True, False]
    finally:
        await limiter.close()
    lines = outage_lines(caplog)
    assert len(lines) == 2
    assert "does not answer" in lines[0] and "answers again" in lines[1]
