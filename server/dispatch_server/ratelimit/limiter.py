"""What a limiter backend does, the errors a limited request raises, and the one place that
picks the backend: Redis when `DISPATCH_REDIS_URL` is set, else memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.ratelimit.gcra import Decision
from dispatch_server.ratelimit.policy import Bucket, Dimension

if TYPE_CHECKING:
    from dispatch_server.config.settings import RateLimits

_WHO = {Dimension.ADDRESS: "client address", Dimension.KEY: "API key"}


class Limiter(Protocol):
    async def hit(self, buckets: Sequence[Bucket]) -> Decision | None:
        """Count one request against `buckets` (at least one), all or nothing. None: the
        backend cannot answer and fails open (the request passes, uncounted)."""
        ...

    async def close(self) -> None: ...


class RateLimited(DomainError):
    """A request over a limit of its route's policy."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, decision: Decision) -> None:
        bucket = decision.bucket
        super().__init__(
            f"too many requests: the {bucket.policy} limit is {bucket.rate} per "
            f"{_WHO[bucket.dimension]}; retry in {decision.retry_seconds} s"
        )
        self.decision = decision


class LimiterUnavailable(DomainError):
    """The shared limiter does not answer, and limits fail closed."""

    code = ErrorCode.RATE_LIMITER_UNAVAILABLE


def open_limiter(settings: RateLimits) -> Limiter:
    if settings.enabled and settings.redis_url:
        from dispatch_server.ratelimit._redis import RedisLimiter

        return RedisLimiter(
            settings.redis_url,
            prefix=settings.redis_key_prefix,
            timeout=settings.redis_timeout_seconds,
            fail_open=settings.redis_failure == "open",
        )
    from dispatch_server.ratelimit._memory import MemoryLimiter

    return MemoryLimiter(max_clients=settings.memory_max_clients)
