"""Plain text as the code and link finders read it: capped, normalised, line by line."""

from __future__ import annotations

import re

MAX_SCAN_CHARS = 200_000  # of each body
MAX_LINE_CHARS = 2_000  # either side of a position, when taking its line

# Soft hyphens, zero-width characters and the invisible direction marks RTL text puts
# around numbers.
ZERO_WIDTH = re.compile("[\u00ad\u034f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
URL_IN_TEXT = re.compile(r"[hH][tT][tT][pP][sS]?://[^\s<>\"'`{}|\\^\[\]]+")


def normalise_text(text: str) -> str:
    """Single spaces, one line per non-empty line, no zero-width characters."""
    # str.split() knows every Unicode space, and beats a regex on indented markup.
    lines = (" ".join(line.split()) for line in ZERO_WIDTH.sub("", text).splitlines())
    return "\n".join(line for line in lines if line)


def line_bounds(text: str, pos: int) -> tuple[int, int]:
    """The line around text[pos], at most MAX_LINE_CHARS either side of pos: one 200 KB
    line must not be copied once per number or link on it."""
    low = max(0, pos - MAX_LINE_CHARS)
    start = text.rfind("\n", low, pos)
    high = pos + MAX_LINE_CHARS
    end = text.find("\n", pos, high)
    return low if start < 0 else start + 1, min(len(text), high) if end < 0 else end
