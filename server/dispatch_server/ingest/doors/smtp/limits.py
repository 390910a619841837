"""What the SMTP door shares between its sessions: the open connections, the bytes held by
DATA phases, and logging that stays quiet under a flood."""

from __future__ import annotations

import ctypes
import logging
import math
import time
from collections import Counter
from collections.abc import Callable

TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, try again later"


class Connections:
    """Open connections, in all and per client address: `admit` answers a refusal or None."""

    def __init__(self, *, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.by_client: Counter[str] = Counter()
        self.open = 0

    def admit(self, client: str) -> str | None:
        if self.open >= self.total or self.by_client[client] >= self.per_client:
            return TOO_MANY_CONNECTIONS
        self.open += 1
        self.by_client[client] += 1
        return None

    def leave(self, client: str) -> None:
        self.open -= 1
        self.by_client[client] -= 1
        if not self.by_client[client]:
            del self.by_client[client]  # so that the counter does not grow with every address


# A release this large gives memory back to the system (see ByteBudget.release).
GIVE_BACK_BYTES = 1024 * 1024


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), which hands the free pages of every arena back to the
    system; None on a C library without it."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


MALLOC_TRIM = _malloc_trim()


class ByteBudget:
    """Bytes of mail held in memory, across sessions: `reserve` says no beyond `limit`."""

    def __init__(self, limit: int, give_back: Callable[[], object] | None = MALLOC_TRIM) -> None:
        self.limit = limit
        self.in_use = 0
        self.peak = 0  # the most ever held at once, for tests and benchmarks
        self.give_back = give_back
        self.give_back_throttle = Throttle(1.0)

    def reserve(self, size: int) -> bool:
        if self.in_use + size > self.limit:
            return False
        self.in_use += size
        self.peak = max(self.peak, self.in_use)
        return True

    def release(self, size: int) -> None:
        """Called once the bytes are freed. glibc keeps freed memory for reuse, and a
        freed buffer of a few MB goes to the heap next time rather than to its own mapping
        (the mmap threshold rises), so without a trim a burst of DATA would keep its peak
        for the life of the process. Trimming costs about a millisecond: after a large
        release, when nothing is held or at most once a second."""
        self.in_use -= size
        if self.give_back is None or size < GIVE_BACK_BYTES:
            return
        if self.in_use == 0 or self.give_back_throttle.allow():
            self.give_back()


class Throttle:
    """Lets one event through per `interval` seconds and counts the ones it holds back."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = -math.inf
        self.held_back = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.interval:
            self.held_back += 1
            return False
        self.last = now
        return True


class BurstLog:
    """A warning that a flood logs once per `interval`, with how many it stood for."""

    def __init__(self, logger: logging.Logger, message: str, interval: float = 10.0) -> None:
        self.logger = logger
        self.message = message
        self.throttle = Throttle(interval)

    def note(self, detail: str) -> None:
        held_back = self.throttle.held_back
        if self.throttle.allow():
            self.throttle.held_back = 0
            more = f" (and {held_back} more since the last such line)" if held_back else ""
            self.logger.warning("%s: %s%s", self.message, detail, more)


class AcceptErrorFilter(logging.Filter):
    """Python 3.11's event loop logs a traceback for each failed accept() when the process
    is out of file descriptors, up to 100 per loop turn: let one through per interval."""

    MESSAGE = "socket.accept() out of system resource"

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.throttle = Throttle(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.MESSAGE):
            return True
        return self.throttle.allow()
