"""The shared limiter: counters in one Redis, so every API process counts against the same
limits. One Lua script reads and pays all of a request's buckets atomically (Redis runs a
script alone), by the clock of the Redis server, so the processes' clocks do not matter.

The script applies gcra's rule to decide, and hands back the TATs it read; the Decision
(remaining, reset) is computed from them by gcra itself. When Redis does not answer, the
limiter fails open (the request passes uncounted) or closed (LimiterUnavailable), as set;
the outage is logged once when it starts and once when it ends, not per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from dispatch_server.ratelimit.gcra import Decision, decide, step
from dispatch_server.ratelimit.limiter import LimiterUnavailable
from dispatch_server.ratelimit.policy import MICROS, Bucket

log = logging.getLogger("dispatch_server.ratelimit")

# KEYS: the buckets. ARGV[1]: now in microseconds, or '' for the Redis server's clock; then
# per bucket its interval and burst in microseconds. Pays every bucket or none (gcra.step's
# rule), each kept until its TAT. Returns {allowed, now, the TAT read per bucket or -1}.
SCRIPT = """
local now
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[1])
end
local reply = {1, now}
local paid = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local stored = redis.call('GET', key)
  local tat = now
  if stored then
    reply[i + 2] = tonumber(stored)
    if tonumber(stored) > now then tat = tonumber(stored) end
  else
    reply[i + 2] = -1
  end
  paid[i] = tat + interval
  if paid[i] - now > burst then reply[1] = 0 end
end
if reply[1] == 1 then
  for i, key in ipairs(KEYS) do
    local ttl = math.ceil((paid[i] - now) / 1000)
    redis.call('SET', key, string.format('%d', paid[i]), 'PX', ttl)
  end
end
return reply
"""


class RedisLimiter:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout: float,
        fail_open: bool,
        clock: Callable[[], float] | None = None,  # None: the Redis server's clock
    ) -> None:
        self.prefix = prefix
        self.fail_open = fail_open
        self._clock = clock
        # No retries: an outage is answered at once by the failure mode, not after backoff.
        self._redis = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(SCRIPT)
        self._down = False

    async def hit(self, buckets: Sequence[Bucket]) -> Decision | None:
        now = "" if self._clock is None else str(int(self._clock() * MICROS))
        args: list[str | int] = [now]
        for bucket in buckets:
            args += [bucket.rate.interval_us, bucket.rate.burst_us]
        try:
            reply = await self._script(keys=[self.prefix + b.key for b in buckets], args=args)
        except (RedisError, OSError) as error:
            self._unavailable(error)  # raises when failing closed
            return None
        if self._down:
            self._down = False
            log.warning("rate limits: Redis answers again; limits apply")
        allowed, at, *tats = (int(value) for value in reply)
        steps = [
            step(None if tat < 0 else tat, at, b.rate) for tat, b in zip(tats, buckets, strict=True)
        ]
        decision = decide(buckets, steps)
        if decision.allowed != bool(allowed):  # cannot happen: the script and gcra agree
            raise RuntimeError("the rate-limit script and gcra disagree")
        return decision

    def _unavailable(self, error: Exception) -> None:
        """Log the outage once; LimiterUnavailable when failing closed."""
        if not self._down:
            self._down = True
            log.warning(
                "rate limits: Redis does not answer (%s: %s); until it does, rate-limited "
                "routes %s",
                type(error).__name__,
                error,
                "pass unlimited (failing open)"
                if self.fail_open
                else "answer 503 (failing closed)",
            )
        if not self.fail_open:
            raise LimiterUnavailable("the rate limiter is unavailable; retry shortly")

    async def close(self) -> None:
        await self._redis.aclose()
