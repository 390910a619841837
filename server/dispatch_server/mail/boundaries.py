"""The multipart boundary pattern of the stdlib's email parser, without a regex compiled for
each message.

`email.feedparser` compiles `(?P<sep>--<boundary>)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>...)?$`
for every multipart it meets. Boundaries are unique per message, so `re`'s cache never hits,
and compiling it cost about 0.1 ms of a 4 KB verification mail's 0.7 ms parse. `install()`
gives the feedparser a `re` whose `compile` answers that one pattern with a matcher that
checks the separator with `str.startswith` and matches the rest with a pattern compiled once
per separator length: `.{N}` in place of the escaped separator, so a match is the very
`re.Match` (groups and spans) the original pattern gives. Any other pattern is compiled as
before, and so is this one if a Python version words it differently.
"""

from __future__ import annotations

import email.feedparser
import functools
import re
from typing import Any

_PREFIX = "(?P<sep>"
_SUFFIX = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _pattern_of_length(length: int) -> re.Pattern[str]:
    return re.compile(f"{_PREFIX}.{{{length}}}{_SUFFIX}", re.DOTALL)


class BoundaryMatcher:
    """What `re.compile` of the boundary pattern gives, for the `match` the parser calls."""

    __slots__ = ("pattern", "separator")

    def __init__(self, separator: str) -> None:
        self.separator = separator
        self.pattern = _pattern_of_length(len(separator))

    def match(self, line: str) -> re.Match[str] | None:
        return self.pattern.match(line) if line.startswith(self.separator) else None


class _FeedparserRe:
    """The `re` module as email.feedparser sees it once installed."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    def compile(self, pattern: Any, flags: int = 0) -> Any:
        if (
            not flags
            and isinstance(pattern, str)
            and pattern.startswith(_PREFIX)
            and pattern.endswith(_SUFFIX)
        ):
            escaped = pattern[len(_PREFIX) : -len(_SUFFIX)]
            separator = _ESCAPE.sub(r"\1", escaped)
            if re.escape(separator) == escaped:
                return BoundaryMatcher(separator)
        return re.compile(pattern, flags)


def install() -> None:
    """Idempotent; affects only email.feedparser, for the whole process."""
    vars(email.feedparser)["re"] = _FeedparserRe()  # typeshed does not list its imports
