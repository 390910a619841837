"""Importing eth-account or web3 without raising Python's recursion limit for the process.

Both import py_ecc, which raises the limit to 100,000 for the whole process. The server's
guards against hostile nesting (JSON bodies, comments in address headers) rely on the limit's
1,000 frames raising RecursionError long before the C stack ends; at 100,000 such input
crashes the process (SIGSEGV) instead. Secp256k1 and the RPC code need no deep recursion.
Every server import of eth_account or web3 happens inside `keeping_recursion_limit()`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keeping_recursion_limit() -> Iterator[None]:
    """The imports inside leave `sys.getrecursionlimit()` as it was, even when they fail."""
    limit = sys.getrecursionlimit()
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)
