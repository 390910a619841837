"""What every console page shares: the templates, the security headers, rendering,
redirects, reading a posted form (its CSRF token checked), and who is signed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import starlette.staticfiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dispatch_client._version import __version__
from dispatch_server.core.errors import NotFound
from dispatch_server.domain import operators
from dispatch_server.services import Services
from dispatch_server.web import cookies

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
MAX_FORM_BYTES = 16_384
CONSOLE_FORM_BYTES = 512 * 1024  # the console's send and inject forms carry mail bodies

# No inline script or style, nothing from another origin; HTML mail will be shown in a
# sandboxed frame of its own (an opaque origin), never in this document.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-src 'self'",  # the sandboxed frame of an HTML mail (see `desk`)
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    token = cookies.csrf_token(request)
    html = TEMPLATES.get_template(template).render(
        csrf=token, version=__version__, path=request.url.path, **context
    )
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    cookies.set_csrf(request, response, token)
    return response


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=HEADERS)


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The posted form (URL-encoded: the console's forms upload no files), its CSRF token
    checked; a larger body than any form makes is refused unread."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > limit:
        raise FormRefused(413, "the form is too large")
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormRefused(415, "the form must be URL-encoded")
    body = await request.body()
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "the form cannot be read") from None
    form = {name: values[0] for name, values in fields.items() if values}
    cookies.check_csrf(request, form.get(cookies.CSRF_FIELD))
    return form


class FormRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def text_field(form: dict[str, str], name: str) -> str:
    return form.get(name, "")


async def signed_in(request: Request) -> operators.Operator | None:
    """The signed-in operator's account, or None: no session, or one whose account is gone
    (deleted since the token was issued), which counts as signed out."""
    services = services_of(request)
    token = cookies.operator_of(request, services)
    if token is None:
        return None
    try:
        return await services.db.run_read(operators.get_operator, token.operator_id)
    except NotFound:
        return None


async def console_operator(request: Request) -> operators.Operator | None:
    """The signed-in, verified operator, or None (then the page sends them to /signup)."""
    operator = await signed_in(request)
    return operator if operator is not None and operator.email_verified else None


class StaticFiles(starlette.staticfiles.StaticFiles):
    """The console's static files, sent with `nosniff` (a script or a stylesheet is never
    read as another type) and cached only briefly, so an upgrade is seen at once."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["cache-control"] = "public, max-age=300"
        return response
