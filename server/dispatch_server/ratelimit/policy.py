"""The rate-limit policies routes opt into, the rate of a limit, and a bucket: one policy's
counter for one client address or one API key."""

from __future__ import annotations

import enum
import re

import attrs

MICROS = 1_000_000
MAX_LIMIT = 1_000_000
MAX_PERIOD_SECONDS = 7 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd]?)\s*$")


class Policy(enum.StrEnum):
    """What a route is limited as: an `Endpoint(rate_limit=Policy.SIGNUP)`. Each policy has a
    rate per client address and one per API key, from the settings (`RateLimits`); routes of
    one policy share its counters."""

    SIGNUP = "signup"  # POST /v1/agent/signup, and operator signup
    LOGIN = "login"
    VERIFY_EMAIL = "verify_email"
    CLAIM = "claim"  # minting and redeeming claim tokens
    WEBHOOK = "webhook"  # /v1/webhooks/*: inbound, SNS (and Stripe)
    BILLING = "billing"
    DOMAINS = "domains"  # POST /v1/domains and its verify: SES and DNS work per call


class Dimension(enum.StrEnum):
    """Who a bucket counts."""

    ADDRESS = "address"  # the client address (an IPv6 client: its /64)
    KEY = "key"  # the id of the valid API key the request presents


@attrs.frozen
class Rate:
    """`limit` requests per `period` seconds: a burst of `limit`, then one every
    `period / limit` seconds."""

    limit: int = attrs.field(validator=attrs.validators.in_(range(1, MAX_LIMIT + 1)))
    period: int = attrs.field(validator=attrs.validators.in_(range(1, MAX_PERIOD_SECONDS + 1)))

    @property
    def interval_us(self) -> int:
        """Microseconds one request uses of the bucket (at least 1: MAX_LIMIT < MICROS)."""
        return self.period * MICROS // self.limit

    @property
    def burst_us(self) -> int:
        """The bucket's size in microseconds: exactly `limit` requests at once."""
        return self.interval_us * self.limit

    @classmethod
    def parse(cls, raw: str) -> Rate:
        """`30/1h`, `10/60` (seconds), `5/m`; ValueError saying what it must be."""
        match = _RATE.match(raw)
        if match is None or (not match.group(2) and not match.group(3)):
            raise ValueError("must be <requests>/<period> such as 30/1h or 10/60, or off")
        count, unit = int(match.group(2) or "1"), match.group(3) or "s"
        limit, period = int(match.group(1)), count * _UNITS[unit]
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"must allow between 1 and {MAX_LIMIT} requests (or be off)")
        if not 1 <= period <= MAX_PERIOD_SECONDS:
            raise ValueError("must have a period between 1 second and 7 days")
        return cls(limit, period)

    def __str__(self) -> str:
        for unit in ("d", "h", "m"):
            if self.period % _UNITS[unit] == 0:
                return f"{self.limit}/{self.period // _UNITS[unit]}{unit}"
        return f"{self.limit}/{self.period}s"


@attrs.frozen
class Bucket:
    """One counter: `policy`'s rate for one `subject` (an address, or a key id)."""

    policy: Policy
    dimension: Dimension
    subject: str
    rate: Rate

    @property
    def family(self) -> str:
        """The buckets of one policy and dimension, which share a rate: `signup:address`."""
        return f"{self.policy}:{self.dimension}"

    @property
    def key(self) -> str:
        return f"{self.family}:{self.subject}"
