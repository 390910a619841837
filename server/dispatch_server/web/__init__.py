"""The web console, served by `dispatch-server` itself at the API's address.

Server-rendered pages (Jinja2 templates) with forms that work without JavaScript, and static
files served from this package: nothing is fetched from another origin at run time and there
is no front-end build, so it works offline, starts with the server, and a headless browser
tests exactly what a user gets. The Content-Security-Policy forbids inline scripts and
styles. The browser's session is a cookie (see `cookies`); API keys never reach the page.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route

from dispatch_server.web import desk, lists_page, pages
from dispatch_server.web.common import StaticFiles

STATIC = Path(__file__).parent / "static"


def routes() -> list[BaseRoute]:
    return [
        Route("/", pages.landing, methods=["GET"]),
        Route("/signup", pages.signup_page, methods=["GET"]),
        Route("/signup", pages.signup_post, methods=["POST"]),
        Route("/console", pages.console, methods=["GET"]),
        Route("/console", pages.console_post, methods=["POST"]),
        Route("/console/lists", lists_page.lists_page, methods=["GET"]),
        Route("/console/lists", lists_page.lists_post, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/ops", pages.ops_page, methods=["GET"]),
        Route("/ops", pages.ops_post, methods=["POST"]),
        Route("/ops/status", pages.ops_fragment, methods=["GET"]),
        Route("/mail", desk.mail_page, methods=["GET"]),
        Route("/mail", desk.mail_post, methods=["POST"]),
        Route("/mail/drafts", desk.drafts_post, methods=["POST"]),
        Route("/mail/list", desk.mail_list, methods=["GET"]),
        Route("/mail/events", desk.mail_events, methods=["GET"]),
        Route("/mail/{inbox_id}/{message_id}/body", desk.message_body, methods=["GET"]),
        Route(
            "/mail/{inbox_id}/{message_id}/attachments/{attachment_id}",
            desk.attachment,
            methods=["GET"],
        ),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
