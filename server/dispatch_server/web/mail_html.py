"""HTML mail made safe to show: sanitised with nh3 (scripts, event handlers and
`javascript:` URLs dropped; mail layout kept), links opened in a new tab without an opener,
and remote images left out unless the reader asked for them.

The sanitised HTML is then served alone, in a sandboxed frame with its own
Content-Security-Policy (see `desk.message_body`): sanitising is the first wall, the
frame's opaque origin and CSP the second.
"""

from __future__ import annotations

import attrs
import nh3

TAGS = {
    "a", "abbr", "address", "b", "big", "blockquote", "br", "caption", "center", "cite",
    "code", "col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q", "s",
    "small", "span", "strike", "strong", "style", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}  # fmt: skip
_LAYOUT = {"style", "align", "valign", "width", "height", "bgcolor", "color", "dir", "title"}
ATTRIBUTES = {
    "*": _LAYOUT | {"lang"},
    "a": {"href", "name"},
    "img": {"src", "alt", "border"},
    "font": {"face", "size"},
    "table": {"border", "cellpadding", "cellspacing"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "scope"},
    "col": {"span"},
    "ol": {"start", "type"},
}
URL_SCHEMES = {"http", "https", "mailto", "cid", "data"}
_REMOTE = ("http:", "https:", "//")


@attrs.frozen
class SafeHtml:
    html: str
    has_remote_images: bool  # some were left out (or, with remote, let in)


def sanitise(html: str, *, remote: bool) -> SafeHtml:
    """The mail's HTML with only what `TAGS`, `ATTRIBUTES` and `URL_SCHEMES` allow; remote
    images only when `remote`."""
    found: list[str] = []

    def keep(tag: str, attribute: str, value: str) -> str | None:
        lowered = value.strip().lower()
        if lowered.startswith("data:") and (tag, attribute) != ("img", "src"):
            return None  # a data: link would open a document outside the sandbox
        if tag == "img" and attribute == "src" and value.strip().lower().startswith(_REMOTE):
            found.append(value)
            return value if remote else None
        return value

    cleaned = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "noscript", "template", "iframe", "object"},
        attributes=ATTRIBUTES,
        attribute_filter=keep,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return SafeHtml(cleaned, bool(found))
