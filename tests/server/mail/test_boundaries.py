"""The feedparser's boundary matcher gives what the pattern it replaces gives."""

from __future__ import annotations

import email.feedparser
import re

import pytest

from dispatch_server.mail import boundaries

SEPARATORS = ["--simple", "--=_Part_0_12345.678", "--a+b*c?(d)[e]{f}|g^h$i\\j", "--'x y'", "--"]
TAILS = ["", "\n", "\r\n", "\r", "--", "--\r\n", "  \t\r\n", "-- \n", "x\r\n", "\r\nmore", "\n\n"]


def original(separator: str) -> re.Pattern[str]:
    return re.compile(
        "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
    )


@pytest.mark.parametrize("separator", SEPARATORS)
def test_the_matcher_matches_as_the_compiled_pattern_does(separator: str) -> None:
    pattern = original(separator)
    boundaries.install()
    matcher = vars(email.feedparser)["re"].compile(pattern.pattern)
    assert isinstance(matcher, boundaries.BoundaryMatcher)
    lines = [separator + tail for tail in TAILS] + [tail + separator for tail in TAILS]
    lines += [separator[:-1], separator.upper(), "", "text\r\n"]
    for line in lines:
        expected, got = pattern.match(line), matcher.match(line)
        if expected is None:
            assert got is None, line
        else:
            assert got is not None, line
            assert got.span() == expected.span(), line
            assert got.groupdict() == expected.groupdict(), line
            assert got.group(0) == expected.group(0), line


def test_other_patterns_are_compiled_as_before() -> None:
    boundaries.install()
    compiled = vars(email.feedparser)["re"].compile(r"(\r\n|\r|\n)\Z")
    assert isinstance(compiled, re.Pattern)
    assert vars(email.feedparser)["re"].escape("a.b") == "a\\.b"
