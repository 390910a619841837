"""The one rule every rate limit decides by: GCRA, the generic cell rate algorithm.

It is a token bucket kept as a single number per bucket, its theoretical arrival time (TAT):
the moment the bucket would be full again. A request costs `interval` (period / limit); it
passes when, after paying, the bucket is no more than `burst` (limit × interval) ahead of
now, so exactly `limit` pass at once and then one per interval. A bucket whose TAT is past is
the same as no bucket, so a counter can be forgotten (evicted, or expired in Redis) at its
TAT. Times are integer microseconds, so the memory and Redis backends reach the same answers.

A request may fill several buckets (its address's and its key's): it passes only if every
one lets it, and then pays in each; a refused request pays nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from dispatch_server.ratelimit.policy import MICROS, Bucket, Rate


@attrs.frozen
class Step:
    """One bucket's answer to one request."""

    allowed: bool
    tat: int  # the bucket's TAT after the request (unchanged when refused)
    remaining: int  # requests that would pass right after this one
    reset_after: int  # microseconds until the bucket is full again
    retry_after: int  # microseconds until one more request passes; 0 when allowed


def step(tat: int | None, now: int, rate: Rate) -> Step:
    """What a request at `now` does to a bucket whose TAT is `tat` (None: no bucket yet)."""
    interval, burst = rate.interval_us, rate.burst_us
    start = now if tat is None or tat < now else tat
    paid = start + interval
    if paid - now > burst:
        return Step(False, start, 0, start - now, paid - now - burst)
    return Step(True, paid, (burst - (paid - now)) // interval, paid - now, 0)


@attrs.frozen
class Decision:
    """A request's answer over all its buckets, and what the RateLimit headers report: the
    bucket that refused it (the longest wait), else the one closest to refusing."""

    allowed: bool
    bucket: Bucket  # the one reported
    remaining: int
    reset_after: int  # microseconds
    retry_after: int  # microseconds; 0 when allowed
    rates: tuple[Rate, ...]  # every bucket's, for RateLimit-Policy

    @property
    def reset_seconds(self) -> int:
        return -(-self.reset_after // MICROS)

    @property
    def retry_seconds(self) -> int:
        """Whole seconds to wait (at least 1 when refused: Retry-After has no fractions)."""
        return max(1, -(-self.retry_after // MICROS)) if not self.allowed else 0


def decide(buckets: Sequence[Bucket], steps: Sequence[Step]) -> Decision:
    pairs = list(zip(buckets, steps, strict=True))
    allowed = all(s.allowed for s in steps)
    if allowed:
        bucket, chosen = min(pairs, key=lambda pair: (pair[1].remaining, -pair[1].reset_after))
    else:
        bucket, chosen = max(
            (pair for pair in pairs if not pair[1].allowed), key=lambda pair: pair[1].retry_after
        )
    return Decision(
        allowed=allowed,
        bucket=bucket,
        remaining=0 if not allowed else chosen.remaining,
        reset_after=chosen.reset_after,
        retry_after=chosen.retry_after,
        rates=tuple(b.rate for b in buckets),
    )
