"""Finding the links of a message and the one that is its call to action."""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import json
import re
import string
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import attrs

from dispatch_client.extract.html import BLOCK_TAG, inline_text
from dispatch_client.extract.lexicon.links import (
    ACTION_STEMS,
    ANCHOR_ACTION_WORDS,
    DESTINATION_SECRET_PARAM_ENDINGS,
    FOOTER_PHRASES,
    IF_NOT_YOU_PHRASES,
    IGNORE_WORDS,
    INVITATION_WORDS,
    JOIN_WORDS,
    NEVER_PRIMARY_URL_PARTS,
    NEVER_PRIMARY_WORDS,
    NOTICE_SUBJECT_PHRASES,
    OPAQUE_WRAPPERS,
    PASSWORD_WORDS,
    REDIRECT_PARAMS,
    SECRET_PARAM_ENDINGS,
    SECRET_PARAMS,
    SIGN_IN_STEMS,
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
# Where the sentence before a link begins: after the last sentence's end.
_SENTENCE_END = re.compile(r"[.!?。！？](?:\s|$)")

# A redirect parameter is followed only when the wrapping URL's own path is not an action
# (".../verify?token=…&redirect=https://app/home" is the real link).
_REDIRECT_PARAMS = frozenset(REDIRECT_PARAMS)
# The words of a call to action; those that ask for it only with a secret (signing in, the
# password, joining, an invitation, unlocking) are also in _NEEDS_SECRET.
_SECRET_ACTIONS = [
    *words(SIGN_IN_STEMS),
    *words(PASSWORD_WORDS),
    *words(JOIN_WORDS),
    *words(INVITATION_WORDS),
]
_ACTION_IN_URL = re.compile(alternation([*words(ACTION_STEMS), *_SECRET_ACTIONS]))
_ACTION_IN_ANCHOR = re.compile(
    alternation([*words(ACTION_STEMS), *_SECRET_ACTIONS, *words(ANCHOR_ACTION_WORDS)])
)
# What a subject asks for, when it asks for an action ("Sign in to Acme", "You're invited"):
# not "join", which newsletters ask too.
_ACTION_IN_SUBJECT = re.compile(
    alternation(
        [
            *words(ACTION_STEMS),
            *words(SIGN_IN_STEMS),
            *words(PASSWORD_WORDS),
            *words(INVITATION_WORDS),
        ]
    )
)
_IF_NOT_YOU_SENTENCE = re.compile(
    alternation(words(IF_NOT_YOU_PHRASES))
    + "|(?:"
    + alternation(words(WHOLE_WORD_IF_NOT_YOU_PHRASES))
    + r")\b"
)
_IGNORE = re.compile(alternation(words(IGNORE_WORDS)))
_NOTICE_SUBJECT = re.compile(alternation(words(NOTICE_SUBJECT_PHRASES)))
_ACTION_STEM = re.compile(alternation(words(ACTION_STEMS)))
_OPAQUE_WRAPPER = re.compile(alternation(OPAQUE_WRAPPERS))
_MAILGUN_HOSTS = ("email.", "mg.", "links.")
_NEEDS_SECRET = re.compile(alternation(_SECRET_ACTIONS))
_FOOTER_BEFORE = re.compile(alternation(words(FOOTER_PHRASES)))
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
# A parameter of any name whose value is one random run of letters and digits
# ("join-team?id=rvqzmui1ovai7rzzoop9c"): an invitation's id is its secret. Not a UUID
# ("userId=44e01514-3a23-…"), which names a record.
# A parameter named for a secret ("token=", "login_code="): a link that carries one is the
# destination itself, and its redirect parameter only where it leads after ("/members/?token=
# …&r=https://blog/"). Not the one-letter names, which wrappers use too (Sophos's "t=").
_NAMED_SECRET_PARAM = re.compile(
    r"(?:^|&)[a-z_]*" + alternation(DESTINATION_SECRET_PARAM_ENDINGS) + r"=[^&]{8,}",
    re.IGNORECASE,
)
_RANDOM_PARAM = re.compile(
    r"(?:^|&)[A-Za-z0-9_.-]+=(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}(?:&|$)"
)
# A signed value ("<value>:<timestamp>:<signature>", as Django's signing writes it) is one,
# and so is a dotted one ("/reset/IjQwIg.axMTdw.HxZW72bEfRzbEFmYlW_5Vb4gI2Y", itsdangerous's
# payload, timestamp and signature; a JWT's three parts): short parts, a long signature.
_TOKEN_SEGMENT = re.compile(
    r"/(?:(?=[A-Za-z0-9_:-]*[0-9])(?=[A-Za-z0-9_:-]*[A-Za-z])[A-Za-z0-9_:-]{16,}"
    r"|[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{4,}\.(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])"
    r"[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_.-]))"
)
# A single-page app's route in the fragment ("/#/password/reset/confirm/MQ/<token>",
# "#!/verify?token=…"): its path and query are read like the URL's own.
_FRAGMENT_ROUTE = re.compile(r"!?/")
# A bare fragment that is a secret: long and random ("#l3GRKhZ2_sUSVhhi7aqavjOdIaTeG5pL…"),
# not a page anchor ("#discussion_r1839201447").
_TOKEN_FRAGMENT = re.compile(
    r"(?=[A-Za-z0-9_=-]*[0-9])(?=[A-Za-z0-9_=-]*[a-z])(?=[A-Za-z0-9_=-]*[A-Z])[A-Za-z0-9_=-]{32,}"
)
_BASE64_URL = re.compile(r"aHR0c[A-Za-z0-9_-]{8,}={0,2}")


@attrs.frozen
class FoundLink:
    """A link as found, before it is unwrapped, deduplicated and scored."""

    url: str
    anchor: str | None  # the anchor's text, for an HTML link
    sentence: str | None  # the words before the link, on its line or in its block
    after: str | None = None  # an HTML link's words after it in its block: "… to verify"
    # For an HTML link alone in its block (a button in its own cell), the last sentence of
    # the block above: "If it wasn't you, reset your password now:" over the button.
    above: str | None = None


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
        before = _words_before(markup, opening.start())
        after = _words_after(markup, closing.end()) if closing else None
        above = None if before else _block_above(markup, opening.start())
        links.append(FoundLink(href, anchor.strip() or None, before, after, above))
    return links


def _words_after(markup: str, start: int) -> str | None:
    """The text after an anchor in its block: "<a>this link</a> to confirm your address"."""
    window = markup[start : start + SENTENCE_CHARS * 3]
    block = BLOCK_TAG.search(window)
    text = inline_text(window[: block.start()] if block else window)[:SENTENCE_CHARS]
    return text or None


def _words_before(markup: str, end: int) -> str | None:
    """The text before an anchor in its block (paragraph, cell, item) and sentence: "If this
    wasn't you, <a>…</a>", "Powered by <a>…</a>"."""
    window = markup[max(0, end - SENTENCE_CHARS * 3) : end]
    blocks = list(BLOCK_TAG.finditer(window))
    if blocks:
        window = window[blocks[-1].end() :]
    text = inline_text(window)[-SENTENCE_CHARS:]
    # Only its own sentence: "If you didn't sign up, ignore this mail. <a>Verify</a>" is not
    # the if-not-you link.
    ends = list(_SENTENCE_END.finditer(text))
    if ends:
        text = text[ends[-1].end() :]
    return text.strip() or None


def _last_sentence(text: str | None) -> str | None:
    """The last sentence of the words before a link (a plain-text link's line before)."""
    if not text:
        return text
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    return sentences[-1] if sentences else text


def _block_above(markup: str, end: int) -> str | None:
    """The last sentence of the nearest block with text before the anchor's own block: "If
    it wasn't you, reset your password immediately:" over a button in its own cell."""
    window = markup[max(0, end - SENTENCE_CHARS * 6) : end]
    bounds = [m.start() for m in BLOCK_TAG.finditer(window)]
    lefts = [m.end() for m in BLOCK_TAG.finditer(window)]
    # The anchor's block starts after the last boundary; look at the blocks before it.
    for index in range(len(bounds) - 1, 0, -1):
        text = inline_text(window[lefts[index - 1] : bounds[index]]).strip()
        if text:
            return _last_sentence(text[-SENTENCE_CHARS:])
    return None


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
    """The destination of a redirect or tracking wrapper that carries it: in its query, or
    in the format of a known wrapper (`_known_wrapper`). Opaque wrappers (SendGrid, Mailgun,
    Mailchimp, Mimecast …) keep what only their server knows: the wrapped link is the link."""
    for _ in range(MAX_UNWRAPS):
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        known = _known_wrapper(parts)
        if known is not None:
            url = known
            continue
        query = parts.query
        if (
            not query
            or _ACTION_IN_URL.search(parts.path.lower())
            or _NAMED_SECRET_PARAM.search(query)
        ):
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


def _known_wrapper(parts: SplitResult) -> str | None:
    """The destination of a click-tracking or URL-rewriting wrapper that encodes it in its
    own way, each by its published format; None for any other URL."""
    host = (parts.hostname or "").lower()
    path = parts.path
    target: str | None = None
    if host.endswith(".awstrack.me"):
        # Amazon SES click tracking: /L0/<percent-encoded destination>/<version>/<id>/<sig>
        segments = path.split("/")
        if len(segments) > 2 and segments[1][:1] == "L":
            target = unquote(segments[2])
    elif host in _PROOFPOINT_HOSTS:
        target = _proofpoint(path, parts.query)
    elif _on(host, "linkprotect.cudasvc.com"):  # Barracuda Link Protection: ?a=<url>
        target = dict(parse_qsl(parts.query)).get("a")
    elif host == "secure-web.cisco.com":  # Cisco Secure Email: /<id>/<percent-encoded url>
        target = unquote(path.rsplit("/", 1)[-1])
    elif _on(host, "mandrillapp.com") and path.startswith("/track/click/"):
        target = _mandrill(parts.query)
    return target if target and _plausible_url(target) else None


def _on(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _plausible_url(url: str) -> bool:
    """An http(s) URL without whitespace or control characters: what a decoded destination
    must be to replace the link it came from."""
    return bool(_HTTP.match(url)) and not any(
        c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url
    )


_PROOFPOINT_HOSTS = frozenset({"urldefense.proofpoint.com", "urldefense.com", "urldefense.us"})
# Proofpoint URL Defense v2 writes "-" for "%" and "_" for "/" in the destination.
_PROOFPOINT_V2 = str.maketrans("-_", "%/")
# v3 replaces some characters of the destination with "*" and lists them, base64url-encoded,
# after "__;"; "**" and a character from this alphabet stand for a run of 2 or more.
_PROOFPOINT_RUNS = {
    c: n + 2
    for n, c in enumerate(string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_")
}


def _proofpoint(path: str, query: str) -> str | None:
    if path.startswith("/v3/__"):
        body = path[len("/v3/__") :] + ("?" + query if query else "")
        encoded, separator, rest = body.partition("__;")
        if not separator:
            return None
        if "*" not in encoded:
            return encoded
        replaced = _decode_base64_text(rest.split("!", 1)[0])
        return None if replaced is None else _proofpoint_v3_fill(encoded, replaced)
    value = dict(parse_qsl(query)).get("u")  # parse_qsl has percent-decoded it once
    if value is None:
        return None
    if path.startswith("/v2/"):
        return unquote(value.translate(_PROOFPOINT_V2))
    return value if path.startswith("/v1/") else None


def _proofpoint_v3_fill(encoded: str, replaced: str) -> str | None:
    out: list[str] = []
    chars = iter(replaced)
    i = 0
    while i < len(encoded):
        if encoded[i] != "*":
            out.append(encoded[i])
            i += 1
            continue
        run = 1
        if encoded.startswith("**", i):
            if i + 2 >= len(encoded) or encoded[i + 2] not in _PROOFPOINT_RUNS:
                return None
            run = _PROOFPOINT_RUNS[encoded[i + 2]]
            i += 3
        else:
            i += 1
        for _ in range(run):
            char = next(chars, None)
            if char is None:
                return None
            out.append(char)
    return "".join(out)


_MANDRILL_P = re.compile(r"(?:^|&)p=([^&]*)")


def _mandrill(query: str) -> str | None:
    """Mandrill's ?p=: base64 (either alphabet) of a JSON object whose "p" is a JSON object
    again, with the "url". Read from the raw query: a "+" of standard base64 is no space."""
    found = _MANDRILL_P.search(query)
    text = None if found is None else _decode_base64_text(unquote(found.group(1)))
    if not text or not text.startswith("{"):
        return None
    try:
        outer = json.loads(text)
        inner = json.loads(outer["p"]) if isinstance(outer, dict) and "p" in outer else outer
    except (ValueError, TypeError, RecursionError):
        return None
    url = inner.get("url") if isinstance(inner, dict) else None
    return url if isinstance(url, str) else None


def _decode_base64_text(value: str) -> str | None:
    standard = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _decode_base64_url(value: str) -> str | None:
    """A redirect parameter's base64 destination ("aHR0cHM6…"), if it decodes to one."""
    decoded = _decode_base64_text(value)
    return decoded if decoded and decoded.isascii() and _plausible_url(decoded) else None


def _carries_code(parts: SplitResult, codes: frozenset[str]) -> bool:
    """Whether a path segment or a value of the query or the fragment is the message's code: a
    code mail's sign-in link that carries it ("/login?code=604213&email=…") carries its
    secret."""
    if not codes:
        return False
    if any(segment in codes for segment in parts.path.split("/")):
        return True
    return any(value in codes for _, value in parse_qsl(parts.query)) or any(
        value in codes for _, value in parse_qsl(parts.fragment)
    )


def _link_score(
    link: FoundLink, url: str, *, subject_asks: bool, codes: frozenset[str] = frozenset()
) -> float:
    try:
        parts = urlsplit(url)
    except ValueError:
        return 0.0
    anchor = link.anchor.lower() if link.anchor else None
    path, route_query = parts.path, ""
    route = _FRAGMENT_ROUTE.match(parts.fragment)
    if route:
        route_path, _, route_query = parts.fragment[route.end() - 1 :].partition("?")
        path = path.rstrip("/") + route_path
    # Host and path only: "…/confirm?contact_id=…&accept_terms=1" is still a confirm link.
    where = (parts.netloc + path).lower()
    opaque = bool(
        _OPAQUE_WRAPPER.search(where)
        or (parts.path.startswith("/c/") and where.startswith(_MAILGUN_HOSTS))
    )
    anchor_actions = _ACTION_IN_ANCHOR.findall(anchor) if anchor else []
    # An opaque wrapper's host and path say nothing of its destination ("list-manage.com"),
    # and an anchor that asks for the action first is not undone by a name after it ("Accept
    # the invitation to Support"; but "Contact support to unlock" is support's).
    if not opaque and _NEVER_PRIMARY.search(where):
        return 0.0
    never = _NEVER_PRIMARY.search(anchor) if anchor else None
    if anchor and never:
        first_action = _ACTION_IN_ANCHOR.search(anchor)
        if first_action is None or never.start() < first_action.start():
            return 0.0
    sentence = link.sentence.lower() if link.sentence else None
    # The link to follow if the mail was unexpected, or a footer's: never the call to action,
    # whether the words are its text or come before it in its sentence ("Ignore this mail if
    # it wasn't you. Otherwise, click below:" introduces the call to action), or make the
    # block above a button alone in its own.
    if anchor and (_IF_NOT_YOU_SENTENCE.search(anchor) or _FOOTER_BEFORE.search(anchor)):
        return 0.0
    last = _last_sentence(sentence)
    if last and (
        _FOOTER_BEFORE.search(last)
        # "If you didn't request a new password, you can safely delete this email." above a
        # reset button only says what to do with an unexpected mail, as in the block above.
        or (_IF_NOT_YOU_SENTENCE.search(last) and not _IGNORE.search(last))
    ):
        return 0.0
    # The block above says "if it wasn't you, do this" (not "… ignore this mail").
    above = link.above.lower() if link.above else None
    if above and _IF_NOT_YOU_SENTENCE.search(above) and not _IGNORE.search(above):
        return 0.0
    # A secret in the query, the path or the fragment (single-page apps read it there). An
    # opaque tracking wrapper may hide one: taken as one when the subject asks for the action
    # too ("Sign in to Acme"), not on a receipt's or a notification's "Log in".
    tokenish = bool(
        _TOKEN_PARAM.search(parts.query)
        or _RANDOM_PARAM.search(parts.query)
        or _TOKEN_SEGMENT.search(path)
        or _TOKEN_PARAM.search(route_query)
        or _RANDOM_PARAM.search(route_query)
        or _TOKEN_PARAM.search(parts.fragment)
        or _TOKEN_FRAGMENT.fullmatch(parts.fragment)
        or (opaque and subject_asks)
        or _carries_code(parts, codes)
    )
    url_actions = _ACTION_IN_URL.findall(path.lower())
    url_says = URL_ACTION if url_actions else 0.0
    if anchor and not anchor_actions:
        url_says *= URL_ACTION_UNDER_OTHER_TEXT
    # Plain text, or an anchor of a few words that name no action ("this link", "here"): the
    # words around the link may ask for it ("Click <a>here</a> to verify your address"), or
    # the block above a button alone in its own ("Use the link below to sign in:" / "<a>https
    # ://…</a>").
    short_anchor = link.anchor is not None and not anchor_actions and len(link.anchor.split()) <= 3
    around = " ".join(w for w in (sentence, link.after.lower() if link.after else None) if w)
    sentence_says = bool(
        (link.anchor is None or short_anchor)
        and tokenish
        and (
            _ACTION_IN_URL.search(around if short_anchor else sentence or "")
            # not "Thanks for joining." above a welcome's button
            or (short_anchor and above and _ACTION_IN_SUBJECT.search(above))
        )
    )
    if not (anchor_actions or url_says or sentence_says):
        return 0.0
    # "Log in" to a notification's site is no sign-in link, nor "Forgot your password?" a
    # reset link: signing in or resetting by mail takes a secret.
    said = [*anchor_actions, *url_actions]
    if not tokenish and said and all(_NEEDS_SECRET.fullmatch(word) for word in said):
        return 0.0
    return (
        ANCHOR_ACTION * bool(anchor_actions)
        + url_says
        + SENTENCE_ACTION * sentence_says
        + CARRIES_SECRET * tokenish
    )


def _reports_a_change(subject: str) -> bool:
    """Whether a lower-cased subject is a security notice ("Your password was changed", "New
    sign-in to Acme") that asks for nothing else once its report is taken out."""
    report = _NOTICE_SUBJECT.search(subject)
    if report is None:
        return False
    rest = subject[: report.start()] + " " + subject[report.end() :]
    return not _ACTION_STEM.search(rest)


def find_links(
    found: list[FoundLink], subject: str | None = None, codes: frozenset[str] = frozenset()
) -> tuple[LinkMatch, ...]:
    """The links unwrapped and deduplicated, in document order, the call to action marked;
    the subject says whether the mail asks for an action at all, and the message's confident
    codes are secrets when a link carries one."""
    subject_asks = bool(subject and _ACTION_IN_SUBJECT.search(subject.lower()))
    notice = bool(subject and _reports_a_change(subject.lower()))
    links: dict[str, FoundLink] = {}
    for link in found[:MAX_LINKS]:
        url = _unwrap(_trim(link.url))
        known = links.get(url)
        if known is None or (known.anchor is None and link.anchor):
            links[url] = link
    scores = {
        url: _link_score(link, url, subject_asks=subject_asks, codes=codes)
        for url, link in links.items()
    }
    best = max(scores.values(), default=0.0)
    primary = (
        next((url for url, s in scores.items() if s == best), None)
        if best >= MIN_PRIMARY_SCORE and not notice
        else None
    )
    return tuple(
        LinkMatch(url=url, text=link.anchor, is_primary=url == primary)
        for url, link in links.items()
    )
