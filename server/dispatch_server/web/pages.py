"""The console's pages: server-rendered HTML, forms that work without JavaScript.

Each handler reads the session cookie, calls the same service functions the API's routes
call (signup, login and verification in `dispatch_server.api.auth`, under the same rate
limits), and renders a template. A refused form is the page again with the error; nothing
here answers JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dispatch_client._version import __version__
from dispatch_server.api import auth
from dispatch_server.auth import policy
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError
from dispatch_server.domain import claims, operators, ops
from dispatch_server.http import rate_limits
from dispatch_server.http.errors import STATUS
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.services import Services
from dispatch_server.web import cookies

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
MAX_FORM_BYTES = 16_384

# No inline script or style, nothing from another origin; HTML mail will be shown in a
# sandboxed frame of its own, never in this document.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
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


def _services(request: Request) -> Services:
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


async def _form(request: Request) -> dict[str, str]:
    """The posted form (URL-encoded: the console's forms upload no files), its CSRF token
    checked; a larger body than any form makes is refused unread."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise _FormRefused(413, "the form is too large")
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise _FormRefused(415, "the form must be URL-encoded")
    body = await request.body()
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise _FormRefused(400, "the form cannot be read") from None
    form = {name: values[0] for name, values in fields.items() if values}
    cookies.check_csrf(request, form.get(cookies.CSRF_FIELD))
    return form


class _FormRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _text(form: dict[str, str], name: str) -> str:
    return form.get(name, "")


async def landing(request: Request) -> Response:
    counters = await _services(request).db.run_read(ops.public_counters)
    signed_in = cookies.operator_of(request, _services(request)) is not None
    return render(request, "landing.html", counters=counters, signed_in=signed_in)


async def signup_page(request: Request) -> Response:
    services = _services(request)
    token = cookies.operator_of(request, services)
    operator = None
    if token is not None:
        operator = await services.db.run_read(operators.get_operator, token.operator_id)
        if operator.email_verified:
            return redirect("/console")
    return render(
        request,
        "signup.html",
        operator=operator,
        invite_required=services.settings.operators.signup == "invite",
        signup_closed=services.settings.operators.signup == "closed",
    )


async def signup_post(request: Request) -> Response:
    """One form handler for the page's forms, told apart by their `action` field."""
    services = _services(request)
    try:
        form = await _form(request)
    except _FormRefused as refused:
        return render(request, "signup.html", status=refused.status, error=str(refused))
    except DomainError as error:
        return render(request, "signup.html", status=403, error=str(error))
    action = _text(form, "action")
    try:
        if action == "signup":
            await rate_limits.admit(request, Policy.SIGNUP)
            issued = await auth.sign_up(
                services,
                email=_text(form, "email"),
                password=_text(form, "password"),
                invite_code=_text(form, "invite_code") or None,
            )
        elif action == "login":
            await rate_limits.admit(request, Policy.LOGIN)
            issued = await auth.log_in(
                services, email=_text(form, "email"), password=_text(form, "password")
            )
        elif action in ("verify", "resend"):
            token = cookies.operator_of(request, services)
            if token is None:
                return redirect("/signup")
            await rate_limits.admit(request, Policy.VERIFY_EMAIL)
            if action == "verify":
                issued = await auth.verify(services, token.operator_id, _text(form, "code"))
            else:
                issued = await auth.resend(services, token.operator_id)
        else:
            return render(request, "signup.html", status=400, error="unknown form")
    except DomainError as error:
        token = cookies.operator_of(request, services)
        operator = None
        if token is not None:
            operator = await services.db.run_read(operators.get_operator, token.operator_id)
        return render(
            request,
            "signup.html",
            status=STATUS[error.code],
            error=str(error),
            operator=operator,
            email=_text(form, "email"),
            invite_required=services.settings.operators.signup == "invite",
        )
    target = "/console" if issued.operator.email_verified else "/signup"
    response = redirect(target)
    cookies.set_session(request, response, issued.access_token, issued.expires_at)
    return response


async def logout(request: Request) -> Response:
    try:
        await _form(request)
    except (DomainError, _FormRefused):
        return redirect("/")
    response = redirect("/")
    cookies.clear_session(request, response)
    return response


async def _console_operator(request: Request) -> operators.Operator | None:
    """The signed-in, verified operator, or None (then the page sends them to /signup)."""
    services = _services(request)
    token = cookies.operator_of(request, services)
    if token is None:
        return None
    operator = await services.db.run_read(operators.get_operator, token.operator_id)
    return operator if operator.email_verified else None


async def _console(
    request: Request,
    operator: operators.Operator,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    services = _services(request)
    agents = await services.db.run_read(claims.list_claimed, operator.id)
    is_admin = policy.is_admin(
        services.settings.operators, email=operator.email, email_verified=True
    )
    return render(
        request,
        "console.html",
        status=status,
        operator=operator,
        agents=agents,
        is_admin=is_admin,
        error=error,
        notice=notice,
    )


async def console(request: Request) -> Response:
    operator = await _console_operator(request)
    if operator is None:
        return redirect("/signup")
    return await _console(request, operator)


async def console_post(request: Request) -> Response:
    """The console's forms: claim an agent (by claim token, wallet signature or API key) and
    choose the active agent, with the rules and rate limits of their API routes."""
    services = _services(request)
    operator = await _console_operator(request)
    if operator is None:
        return redirect("/signup")
    try:
        form = await _form(request)
    except _FormRefused as refused:
        return await _console(request, operator, status=refused.status, error=str(refused))
    except DomainError as error:
        return await _console(request, operator, status=STATUS[error.code], error=str(error))
    action = _text(form, "action")
    try:
        if action == "claim":
            await rate_limits.admit(request, Policy.CLAIM)
            wanted = claims.ClaimRequest(
                claim_email=_text(form, "claim_email") or None,
                claim_token=_text(form, "claim_token") or None,
                api_key=_text(form, "api_key") or None,
                wallet_signature=_text(form, "wallet_signature") or None,
            )
            claimed = await services.db.run_write(claims.claim, operator.id, wanted, now=utcnow())
            notice = f"claimed {claimed.agent_name} ({claimed.inbox_address})"
        elif action == "switch":
            switched = await services.db.run_write(
                claims.switch_active, operator.id, _text(form, "agent_id")
            )
            notice = f"now acting for {switched.agent_name}"
        else:
            return await _console(request, operator, status=400, error="unknown form")
    except DomainError as error:
        return await _console(request, operator, status=STATUS[error.code], error=str(error))
    return await _console(request, operator, notice=notice)
