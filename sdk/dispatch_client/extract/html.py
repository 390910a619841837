"""HTML rendered to the text a reader sees, one line per block or table cell."""

from __future__ import annotations

import html as html_lib
import re

from dispatch_client.extract.patterns import alternation
from dispatch_client.extract.text import MAX_SCAN_CHARS, ZERO_WIDTH, normalise_text

# Regexes rather than html.parser: a 20 KB newsletter renders ~5x faster. A tag is scanned
# up to its ">" but never past the next "<", so broken markup ("<a href='…<a href='…") cannot
# make every tag start rescan the rest of the document.
_INVISIBLE_TAGS = ("script", "style", "head", "title", "noscript", "template")
_INVISIBLE_OPEN = re.compile(r"<!--|<(" + "|".join(_INVISIBLE_TAGS) + r")\b", re.I)
_CLOSING_TAGS = {tag: re.compile(rf"</{tag}\b[^<>]{{0,4000}}>", re.I) for tag in _INVISIBLE_TAGS}
_BODY_OPEN = re.compile(r"<body\b", re.I)
_BLOCK_TAG_NAMES = (
    "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul",
)  # fmt: skip
BLOCK_TAG = re.compile(
    r"</?(?:" + alternation(_BLOCK_TAG_NAMES) + r")\b[^<>]{0,4000}>",
    re.I,
)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]{0,4000}>|<[!?][^<>]{0,4000}>")
# A code laid out one digit per table cell or inline element ("<td>4</td><td>8</td>…",
# "<span class=digit>4</span>…"): elements holding one digit each, with only tags (no row or
# paragraph boundary), spaces and empty spacer cells between them; 4 to 8 make a code.
# Starting at ">" lets sre scan for a literal instead of testing every character, and a digit
# must be followed by a tag at once, or a failed match would rescan the rest at every ">".
_IN_ROW_TAG = r"<(?!/?(?i:tr|table|tbody|thead|tfoot|p|li|br|hr)\b)/?[A-Za-z][^<>]{0,400}>"
# Capitals and digits laid out so ("<td>K</td><td>7</td><td>P</td>…") are one code too.
_DIGIT_CELLS = re.compile(
    rf">\s*[\dA-Z]\s*(?:(?:{_IN_ROW_TAG}(?:\s|&nbsp;)*)+[\dA-Z]\s*){{3,}}(?=<)"
)


def html_to_text(html: str) -> str:
    """Visible text of an HTML document, one line per block element or table cell; digits
    laid out one per cell or element in a row stay on one line ("4 8 2 9 1 3")."""
    return render(strip_invisible(html[:MAX_SCAN_CHARS]))


def strip_invisible(markup: str) -> str:
    """Markup without comments and without script, style, head, title, … elements."""
    match = _INVISIBLE_OPEN.search(markup)
    if match is None:
        return markup
    kept: list[str] = []
    unclosed: set[str] = set()  # searched to the end once: no need to search again
    pos = 0
    while match is not None:
        kept.append(markup[pos : match.start()])
        tag = match.group(1)
        if tag is None:
            end = markup.find("-->", match.end())
            pos = len(markup) if end < 0 else end + 3
        else:
            tag = tag.lower()
            closing = None if tag in unclosed else _CLOSING_TAGS[tag].search(markup, match.end())
            if closing is None:
                unclosed.add(tag)
            if closing is not None:
                pos = closing.end()
            elif tag == "head":
                # An unclosed <head> ends where the body starts, not at the end of the mail.
                body = None if "body" in unclosed else _BODY_OPEN.search(markup, match.end())
                if body is None:
                    unclosed.add("body")
                pos = match.end() if body is None else body.start()
            else:
                pos = len(markup)
        match = _INVISIBLE_OPEN.search(markup, pos)
    kept.append(markup[pos:])
    return "".join(kept)


def render(visible_markup: str) -> str:
    """The text of markup already stripped of its invisible parts (see `html_to_text`)."""
    visible_markup = _DIGIT_CELLS.sub(_join_digit_cells, visible_markup)
    text = _ANY_TAG.sub("", BLOCK_TAG.sub("\n", visible_markup))
    if "&" in text:
        text = html_lib.unescape(text)
    return normalise_text(text)


def inline_text(markup: str) -> str:
    """The text of a fragment of markup on one line, such as the inside of an anchor."""
    if "<" in markup:
        markup = _ANY_TAG.sub(" ", markup)
    if "&" in markup:
        markup = html_lib.unescape(markup)
    return " ".join(ZERO_WIDTH.sub("", markup).split())


def _join_digit_cells(match: re.Match[str]) -> str:
    """The digits of a _DIGIT_CELLS match on one line, spaced like "4 8 2 9 1 3", a shape
    that is read as a code only next to a code keyword; more than 8 are left as they are."""
    chars = _ANY_TAG.sub(" ", match.group()[1:]).replace("&nbsp;", " ").split()
    if len(chars) > 8:
        return match.group()
    if all(c.isdigit() for c in chars):
        return ">" + " ".join(chars)
    # Capitals and digits: written as one token ("K7P2QX"), a code only next to a keyword;
    # capitals alone (a row of initials, weekdays) are left as they are.
    return ">" + "".join(chars) if any(c.isdigit() for c in chars) else match.group()
