"""Character rules that several places check text against: one definition each."""

from __future__ import annotations

import re

# Control characters: C0 (CR, LF, TAB, NUL ...), DEL, C1 (U+0085 ...), U+2028 and U+2029.
# Every character str.splitlines() breaks on is among these.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What no database stores: NUL (PostgreSQL), and lone surrogates (no UTF-8 encodes them; what
# json.loads reads from "\ud800", or UTF-7 `+2D0-` decodes to).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return UNSTORABLE.search(text) is None
