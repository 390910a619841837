"""The in-process limiter: one process's counters, in bounded memory.

Each family of buckets (a policy and dimension, so one rate) is an OrderedDict of TATs in
the order they were last paid into. A TAT in the past is no bucket at all (see gcra), and a
bucket paid at `u` has its TAT by `u + burst`, so dropping expired buckets from the front
leaves only clients that passed within the last `burst`; past `max_clients` in a family the
longest-idle client is forgotten (it gets a full bucket again), and that is logged once.
Refused requests store nothing. Decisions run without awaiting, so one event loop's
requests cannot interleave inside one.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence

from dispatch_server.core.clock import monotonic
from dispatch_server.ratelimit.gcra import Decision, decide, step
from dispatch_server.ratelimit.policy import MICROS, Bucket

log = logging.getLogger("dispatch_server.ratelimit")


class MemoryLimiter:
    def __init__(self, *, max_clients: int, clock: Callable[[], float] = monotonic) -> None:
        self.max_clients = max_clients
        self._clock = clock
        self._families: dict[str, OrderedDict[str, int]] = {}
        self._full: set[str] = set()  # families whose overflow was logged

    async def hit(self, buckets: Sequence[Bucket]) -> Decision:
        now = int(self._clock() * MICROS)
        tables = [self._table(bucket.family, now) for bucket in buckets]
        steps = [step(t.get(b.subject), now, b.rate) for t, b in zip(tables, buckets, strict=True)]
        if all(s.allowed for s in steps):
            for table, bucket, paid in zip(tables, buckets, steps, strict=True):
                table[bucket.subject] = paid.tat
                table.move_to_end(bucket.subject)
                if len(table) > self.max_clients:
                    table.popitem(last=False)
                    self._log_full(bucket.family)
        return decide(buckets, steps)

    def clients(self, family: str) -> int:
        """Buckets held for `family` (for the tests and the curious)."""
        return len(self._families.get(family, ()))

    def _table(self, family: str, now: int) -> OrderedDict[str, int]:
        table = self._families.setdefault(family, OrderedDict())
        while table and next(iter(table.values())) <= now:
            table.popitem(last=False)
        return table

    def _log_full(self, family: str) -> None:
        if family not in self._full:
            self._full.add(family)
            log.warning(
                "rate limits: more than %d clients of %s at once; the longest idle are "
                "forgotten (DISPATCH_RATE_LIMIT_MEMORY_MAX_CLIENTS, or use Redis)",
                self.max_clients,
                family,
            )

    async def close(self) -> None:
        self._families.clear()
