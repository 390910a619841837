"""Finding the links of a message and the one that is its call to action."""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import re
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from dispatch_client.extract.html import inline_text
from dispatch_client.extract.lexicon.links import (
    ACTION_STEMS,
    ANCHOR_ACTION_WORDS,
    IF_NOT_YOU_PHRASES,
    NEVER_PRIMARY_URL_PARTS,
    NEVER_PRIMARY_WORDS,
    REDIRECT_PARAMS,
    SECRET_PARAM_ENDINGS,
    SECRET_PARAMS,
    WHOLE_WORD_IF_NOT_YOU_PHRASES,
)
from dispatch_client.extract.patterns import alternation, words
from dispatch_client.extract.text import URL_IN_TEXT, line_bounds

MAX_LINKS = 500
MAX_UNWRAPS = 4  # redirect wrappers around one link
SENTENCE_CHARS = 200  # the words before a plain-text link that introduce it

# --- scoring: how likely a link is the message's call to action ---------------------------
ANCHOR_ACTION = 2.0  # its text asks for the action: "Verify email"
URL_ACTION = 1.5  # its path names the action: …/verify
# Times URL_ACTION when the anchor text says something else: "view it on GitHub" on
# …/auth-service/pull/12 is no sign-in link.
URL_ACTION_UNDER_OTHER_TEXT = 0.6
# The sentence before a plain-text link asks for the action, and the URL carries a secret.
SENTENCE_ACTION = 1.5
CARRIES_SECRET = 1.0  # a token parameter or path segment, on a link that names an action
# The best link is primary from this score: its text, its path or the sentence before it asks
# for the action; a path under other anchor text needs a secret too.
MIN_PRIMARY_SCORE = 1.5


@attrs.frozen
class LinkMatch:
    """An http(s) link of the message, unwrapped from redirect and tracking wrappers that
    carry their destination."""

    url: str
    text: str | None  # the anchor text of an HTML link
    is_primary: bool  # the message's call to action; at most one link is


_ANCHOR_OPEN = re.compile(r"<a\b([^<>]{0,4000})>", re.I)
# An anchor ends at its </a>, or at the next <a> when it is never closed.
_ANCHOR_END = re.compile(r"</[aA]\s*>|<[aA]\b")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_IMG_ALT = re.compile(r"""<img\b[^<>]{0,4000}?\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_HTTP = re.compile(r"https?://", re.I)

# A redirect parameter is followed only when the wrapping URL's own path is not an action
# (".../verify?token=…&redirect=https://app/home" is the real link).
_REDIRECT_PARAMS = frozenset(REDIRECT_PARAMS)
_ACTION_IN_URL = re.compile(alternation(words(ACTION_STEMS)))
_ACTION_IN_ANCHOR = re.compile(alternation([*words(ACTION_STEMS), *words(ANCHOR_ACTION_WORDS)]))
_IF_NOT_YOU_SENTENCE = re.compile(
    alternation(words(IF_NOT_YOU_PHRASES))
    + "|(?:"
    + alternation(words(WHOLE_WORD_IF_NOT_YOU_PHRASES))
    + r")\b"
)
_NEVER_PRIMARY = re.compile(alternation([*words(NEVER_PRIMARY_WORDS), *NEVER_PRIMARY_URL_PARTS]))
# A parameter that carries a secret or a path segment that looks like one
# ("/e/7Hq2Lk9PzX4mWv8RtY3n").
_TOKEN_PARAM = re.compile(
    r"(?:^|&)(?:[a-z_]*"
    + alternation(SECRET_PARAM_ENDINGS)
    + "|"
    + alternation(SECRET_PARAMS)
    + r")=[^&]{8,}",
    re.IGNORECASE,
)
_TOKEN_SEGMENT = re.compile(r"/(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
_BASE64_URL = re.compile(r"aHR0c[A-Za-z0-9_-]{8,}={0,2}")


@attrs.frozen
class FoundLink:
    """A link as found, before it is unwrapped, deduplicated and scored."""

    url: str
    anchor: str | None  # the anchor's text, for an HTML link
    sentence: str | None  # the words introducing a plain-text link


def html_links(markup: str) -> list[FoundLink]:
    """The http(s) links of the anchors in visible markup, with their text or image alt text."""
    links: list[FoundLink] = []
    for opening in _ANCHOR_OPEN.finditer(markup):
        if len(links) >= MAX_LINKS:
            break
        href_match = _HREF.search(opening.group(1))
        if href_match is None:
            continue
        href = html_lib.unescape(next(g for g in href_match.groups() if g is not None)).strip()
        if not _HTTP.match(href):
            continue  # mailto:, tel:, javascript:, anchors
        closing = _ANCHOR_END.search(markup, opening.end(), opening.end() + 4000)
        inner = markup[opening.end() : closing.start()] if closing else ""
        anchor = inline_text(inner)
        if not anchor:
            alt = _IMG_ALT.search(inner)
            anchor = (
                html_lib.unescape(next(g for g in alt.groups() if g is not None)) if alt else ""
            )
        links.append(FoundLink(href, anchor.strip() or None, None))
    return links


def text_links(text: str) -> list[FoundLink]:
    """The URLs written in text, with the words introducing each: before it on its line, or
    on the line before when it stands alone."""
    links: list[FoundLink] = []
    for match in URL_IN_TEXT.finditer(text):
        line_start, _ = line_bounds(text, match.start())
        sentence = text[max(line_start, match.start() - SENTENCE_CHARS) : match.start()]
        if not sentence.strip() and line_start:
            previous_start, _ = line_bounds(text, line_start - 1)
            sentence = text[max(previous_start, line_start - 1 - SENTENCE_CHARS) : line_start - 1]
        links.append(FoundLink(match.group(), None, sentence.strip() or None))
        if len(links) >= MAX_LINKS:
            break
    return links


def _trim(url: str) -> str:
    url = url.rstrip(".,;:!?»”'\"")
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1]
    return url


def _unwrap(url: str) -> str:
    """The destination of a redirect or tracking wrapper that carries it in its query."""
    for _ in range(MAX_UNWRAPS):
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        query = parts.query
        if not query or _ACTION_IN_URL.search(parts.path.lower()):
            return url
        if "http" not in query.lower() and "aHR0c" not in query:
            return url
        target = None
        for name, value in parse_qsl(query):
            if name.lower() not in _REDIRECT_PARAMS:
                continue
            if value[:7].lower() == "http%3a" or value[:8].lower() == "https%3a":
                value = unquote(value)  # encoded twice
            if _HTTP.match(value):
                target = value
            elif _BASE64_URL.fullmatch(value):
                target = _decode_base64_url(value)
            if target:
                break
        if not target:
            return url
        url = target
    return url


def _decode_base64_url(value: str) -> str | None:
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if _HTTP.match(decoded) and not any(c.isspace() or ord(c) < 32 for c in decoded):
        return decoded
    return None


def _link_score(link: FoundLink, url: str) -> float:
    try:
        parts = urlsplit(url)
    except ValueError:
        return 0.0
    anchor = link.anchor.lower() if link.anchor else None
    # Host and path only: "…/confirm?contact_id=…&accept_terms=1" is still a confirm link.
    where = (parts.netloc + parts.path).lower()
    if _NEVER_PRIMARY.search(where) or (anchor and _NEVER_PRIMARY.search(anchor)):
        return 0.0
    tokenish = bool(_TOKEN_PARAM.search(parts.query) or _TOKEN_SEGMENT.search(parts.path))
    anchor_says = bool(anchor and _ACTION_IN_ANCHOR.search(anchor))
    url_says = URL_ACTION if _ACTION_IN_URL.search(parts.path.lower()) else 0.0
    if anchor and not anchor_says:
        url_says *= URL_ACTION_UNDER_OTHER_TEXT
    sentence = link.sentence.lower() if link.sentence else None
    sentence_says = bool(
        sentence
        and tokenish
        and _ACTION_IN_URL.search(sentence)
        and not _IF_NOT_YOU_SENTENCE.search(sentence)
    )
    if not (anchor_says or url_says or sentence_says):
        return 0.0
    return (
        ANCHOR_ACTION * anchor_says
        + url_says
        + SENTENCE_ACTION * sentence_says
        + CARRIES_SECRET * tokenish
    )


def find_links(found: list[FoundLink]) -> tuple[LinkMatch, ...]:
    """The links unwrapped and deduplicated, in document order, the call to action marked."""
    links: dict[str, FoundLink] = {}
    for link in found[:MAX_LINKS]:
        url = _unwrap(_trim(link.url))
        known = links.get(url)
        if known is None or (known.anchor is None and link.anchor):
            links[url] = link
    scores = {url: _link_score(link, url) for url, link in links.items()}
    best = max(scores.values(), default=0.0)
    primary = (
        next((url for url, s in scores.items() if s == best), None)
        if best >= MIN_PRIMARY_SCORE
        else None
    )
    return tuple(
        LinkMatch(url=url, text=link.anchor, is_primary=url == primary)
        for url, link in links.items()
    )
