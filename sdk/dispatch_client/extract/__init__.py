"""OTP and link extraction from email, pure Python (stdlib + attrs).

The server runs `extract()` on every inbound message; the SDK exposes it for client-side use
(`extract_message(raw_bytes)`). Quality is measured on the corpus in tests/corpus/.

How codes are found: HTML is rendered to text (one line per block or table cell, but a row of
single-digit cells stays on one line), then the subject, the text part and the rendered HTML are
scanned whole, with digits of any script read as ASCII ones. Numeric spans are taken whole
("415 555 0132" is one span, so a phone number never yields a 4-digit "code"), judged by shape
(dates, times, prices, phone numbers, long ids are rejected) and by the words just before them
(order numbers, invoices, tracking numbers, amounts), then scored by how close a code keyword
is, in any of several languages. Codes with letters are only taken next to a keyword, as
written, and a keyword on a promotional line ("25% off with code") does not count.

How links are found: every http(s) link of the HTML anchors and of the text, in document
order, is unwrapped from the redirect and tracking wrappers that carry their destination (in
a query parameter, or in a wrapper's own format: SES, Proofpoint, Barracuda, Cisco,
Mandrill), and deduplicated. The primary link, at most one, is the call to action: the link
whose anchor text, URL path or surrounding words ask to verify, confirm, sign in, reset,
join … (in the same languages), with a bonus for a secret in the URL; signing in, the
password, joining and invitations count only with a secret. Unsubscribe, help, social,
app-store, footer and "if this wasn't you" links are never primary.

Everything runs on pre-compiled regexes over capped input (the server calls this on every
inbound message); Python-level work happens per candidate number or token and per link.

The parts: `mime` reads the message (the MIME walk, attachments, charsets), `html` renders
markup to text, `codes` finds the codes and `links` the links, each with its scoring weights
named at its top, and `lexicon` holds every word they look for, by purpose and language.
"""

from __future__ import annotations

import email.policy
from email.parser import BytesParser

import attrs

from dispatch_client.extract.codes import OtpMatch, find_codes
from dispatch_client.extract.html import html_to_text, render, strip_invisible
from dispatch_client.extract.links import FoundLink, LinkMatch, find_links, html_links, text_links
from dispatch_client.extract.mime import (
    MimeLimitExceeded,
    body_parts,
    decode_text_part,
    header_block,
    leaf_parts,
    parse_bytes,
)
from dispatch_client.extract.text import MAX_SCAN_CHARS, URL_IN_TEXT, normalise_text

__all__ = [
    "Extraction",
    "LinkMatch",
    "OtpMatch",
    "decode_text_part",
    "extract",
    "extract_message",
    "html_to_text",
]


@attrs.frozen
class Extraction:
    """What was found in one message."""

    otps: tuple[OtpMatch, ...]  # every candidate, best first; `confident` ones are taken
    links: tuple[LinkMatch, ...]  # in document order

    @property
    def otp(self) -> str | None:
        """The best code, if one is confident (see `OtpMatch.confident`). A temporary or
        administrator-set password is no one-time code: it is not returned unless the mail
        calls it a code."""
        return self.otps[0].code if self.otps and self.otps[0].confident else None

    @property
    def primary_link(self) -> str | None:
        """The URL of the call to action, if any."""
        return next((link.url for link in self.links if link.is_primary), None)


def extract(subject: str | None, text: str | None, html: str | None) -> Extraction:
    """Codes and links of one message. Never raises on odd input."""
    sources: list[tuple[str, str]] = []
    found_links: list[FoundLink] = []
    if subject:
        sources.append(("subject", normalise_text(subject[:1000])))
    plain = ""
    if text:
        plain = normalise_text(text[:MAX_SCAN_CHARS])
        found_text_links = text_links(plain)
        # Numbers inside URLs are ids, and a "?code=" in a URL is no keyword.
        sources.append(("text", URL_IN_TEXT.sub(" ", plain) if found_text_links else plain))
    else:
        found_text_links = []
    if html:
        visible = strip_invisible(html[:MAX_SCAN_CHARS])
        found_links += html_links(visible)
        rendered = render(visible)
        rendered_links = text_links(rendered)
        found_links += rendered_links
        if not text or rendered.replace(" ", "") != plain.replace(" ", ""):
            sources.append(("html", URL_IN_TEXT.sub(" ", rendered) if rendered_links else rendered))
    found_links += found_text_links
    otps = find_codes(sources)
    codes = frozenset(m.code for m in otps if m.confident)
    return Extraction(otps=otps, links=find_links(found_links, subject, codes))


def extract_message(raw: bytes) -> Extraction:
    """Parse RFC 5322 bytes and extract from the subject and the first text/plain and
    text/html bodies that are not attachments (nor inside one, like a forwarded .eml)."""
    try:
        message = parse_bytes(raw, policy=email.policy.default)
        text_part, html_part = body_parts(leaf_parts(message))
    except MimeLimitExceeded:  # beyond the caps: the subject alone
        message = BytesParser(policy=email.policy.default).parsebytes(header_block(raw))
        text_part = html_part = None
    try:
        subject = str(message.get("subject") or "") or None
    except (ValueError, TypeError, LookupError):
        subject = None
    return extract(
        subject,
        decode_text_part(text_part) if text_part is not None else None,
        decode_text_part(html_part) if html_part is not None else None,
    )
