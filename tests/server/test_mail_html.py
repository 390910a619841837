"""The mail desk's sanitiser, by class of hostile HTML: what the sandboxed frame gets."""

from __future__ import annotations

import pytest

from dispatch_server.web.mail_html import sanitise

SCRIPTS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<body onload=alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "<a href=' JaVaScRiPt:alert(1)'>x</a>",
    "<a href='vbscript:msgbox(1)'>x</a>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src='https://evil.example'></iframe>",
    "<object data='https://evil.example/x.swf'></object>",
    "<form action='https://evil.example'><input name=p></form>",
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    "<base href='https://evil.example/'>",
    "<a href='data:text/html,<script>alert(1)</script>'>open</a>",
    "<a href='DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='>open</a>",
]


@pytest.mark.parametrize("html", SCRIPTS)
def test_nothing_that_runs_or_navigates_elsewhere_is_kept(html: str) -> None:
    cleaned = sanitise(html, remote=True).html.lower()
    for banned in (
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "vbscript:",
        "<iframe",
        "<object",
        "<form",
        "<meta",
        "<base",
        "data:text",
    ):
        assert banned not in cleaned, (html, cleaned)


def test_remote_images_only_when_asked_and_data_images_always() -> None:
    html = '<img src="https://t.example/p.gif" alt="p"><img src="data:image/png;base64,AA==">'
    blocked, shown = sanitise(html, remote=False), sanitise(html, remote=True)
    assert blocked.has_remote_images and shown.has_remote_images
    assert "t.example" not in blocked.html and "t.example" in shown.html
    assert blocked.html.count("data:image/png") == 1


def test_links_open_in_a_new_tab_without_a_referrer() -> None:
    cleaned = sanitise('<a href="https://example.com/a">a</a>', remote=False).html
    assert 'target="_blank"' in cleaned and 'rel="noopener noreferrer"' in cleaned
