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
from dispatch_server.api import auth, metrics
from dispatch_server.api import ops as ops_api
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, NotFound
from dispatch_server.domain import claims, invites, operators
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


async def _signed_in(request: Request) -> operators.Operator | None:
    """The signed-in operator's account, or None: no session, or one whose account is gone
    (deleted since the token was issued), which counts as signed out."""
    services = _services(request)
    token = cookies.operator_of(request, services)
    if token is None:
        return None
    try:
        return await services.db.run_read(operators.get_operator, token.operator_id)
    except NotFound:
        return None


def _signup_page(request: Request, status: int = 200, **context: Any) -> Response:
    settings = _services(request).settings.operators
    return render(
        request,
        "signup.html",
        status=status,
        invite_required=settings.signup == "invite",
        signup_closed=settings.signup == "closed",
        **context,
    )


async def landing(request: Request) -> Response:
    counters = await metrics.current_public_metrics(request.app.state, _services(request))
    signed_in = cookies.operator_of(request, _services(request)) is not None
    return render(request, "landing.html", counters=counters, signed_in=signed_in)


async def signup_page(request: Request) -> Response:
    operator = await _signed_in(request)
    if operator is not None and operator.email_verified:
        return redirect("/console")
    return _signup_page(request, operator=operator)


async def signup_post(request: Request) -> Response:
    """One form handler for the page's forms, told apart by their `action` field."""
    services = _services(request)
    try:
        form = await _form(request)
    except _FormRefused as refused:
        return _signup_page(request, refused.status, error=str(refused))
    except DomainError as error:
        return _signup_page(request, STATUS[error.code], error=str(error))
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
            operator = await _signed_in(request)
            if operator is None:
                return redirect("/signup")
            await rate_limits.admit(request, Policy.VERIFY_EMAIL)
            if action == "verify":
                issued = await auth.verify(services, operator.id, _text(form, "code"))
            else:
                issued = await auth.resend(services, operator.id)
        else:
            return _signup_page(request, 400, error="unknown form")
    except DomainError as error:
        response = _signup_page(
            request,
            STATUS[error.code],
            error=str(error),
            operator=await _signed_in(request),
            email=_text(form, "email") if action == "signup" else None,
            login_email=_text(form, "email") if action == "login" else None,
        )
        return rate_limits.add_headers(request, response)
    target = "/console" if issued.operator.email_verified else "/signup"
    response = redirect(target)
    cookies.set_session(request, response, issued.access_token, issued.expires_at)
    return rate_limits.add_headers(request, response)


async def logout(request: Request) -> Response:
    """Sign out. The cookie goes whatever the form carries: a forged sign-out harms no one.
    The token itself stays valid until it expires (DISPATCH_JWT_TTL_SECONDS)."""
    response = redirect("/")
    cookies.clear_session(request, response)
    return response


async def _console_operator(request: Request) -> operators.Operator | None:
    """The signed-in, verified operator, or None (then the page sends them to /signup)."""
    operator = await _signed_in(request)
    return operator if operator is not None and operator.email_verified else None


async def _console(
    request: Request,
    operator: operators.Operator,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    keys: tuple[str, str] | None = None,
) -> Response:
    services = _services(request)
    agents = await services.db.run_read(claims.list_claimed, operator.id)
    is_admin = auth.is_admin_operator(services, operator)
    return render(
        request,
        "console.html",
        status=status,
        operator=operator,
        agents=agents,
        is_admin=is_admin,
        error=error,
        notice=notice,
        keys=keys,
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
    keys: tuple[str, str] | None = None
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
            keys = (claimed.account_key, claimed.inbox_key)
        elif action == "switch":
            switched = await services.db.run_write(
                claims.switch_active, operator.id, _text(form, "agent_id")
            )
            notice = f"now acting for {switched.agent_name}"
        else:
            return await _console(request, operator, status=400, error="unknown form")
    except DomainError as error:
        response = await _console(request, operator, status=STATUS[error.code], error=str(error))
        return rate_limits.add_headers(request, response)
    response = await _console(request, operator, notice=notice, keys=keys)
    return rate_limits.add_headers(request, response)


# --- ops (admins) ----------------------------------------------------------------------


class _NotAdmin(Exception):
    pass


async def _admin(request: Request) -> operators.Operator | None:
    """The signed-in admin; None when not signed in; _NotAdmin for anyone else."""
    operator = await _console_operator(request)
    if operator is None:
        return None
    if not auth.is_admin_operator(_services(request), operator):
        raise _NotAdmin()
    return operator


async def _ops(
    request: Request,
    admin: operators.Operator,
    *,
    status: int = 200,
    error: str | None = None,
    created: str | None = None,
) -> Response:
    services = _services(request)
    health = await ops_api.read_status(services)
    codes = await services.db.run_read(invites.list_codes)
    return render(
        request,
        "ops.html",
        status=status,
        operator=admin,
        health=health,
        codes=codes,
        error=error,
        created=created,
        is_admin=True,
        refresh_seconds=OPS_REFRESH_SECONDS,
    )


OPS_REFRESH_SECONDS = 15  # as the seed's ops page


async def ops_page(request: Request) -> Response:
    try:
        admin = await _admin(request)
    except _NotAdmin:
        return render(request, "forbidden.html", status=403)
    if admin is None:
        return redirect("/signup")
    return await _ops(request, admin)


async def ops_fragment(request: Request) -> Response:
    """The health part of the ops page alone, which the page fetches to refresh itself."""
    try:
        admin = await _admin(request)
    except _NotAdmin:
        return render(request, "forbidden.html", status=403)
    if admin is None:
        return HTMLResponse("", status_code=401, headers=HEADERS)
    health = await ops_api.read_status(_services(request))
    return render(request, "_ops_status.html", health=health)


async def ops_post(request: Request) -> Response:
    """Create or revoke an invite code."""
    try:
        admin = await _admin(request)
    except _NotAdmin:
        return render(request, "forbidden.html", status=403)
    if admin is None:
        return redirect("/signup")
    services = _services(request)
    try:
        form = await _form(request)
        action = _text(form, "action")
        if action == "create_invite":
            label = _text(form, "label").strip() or None
            uses, days = _text(form, "max_redemptions") or "1", _text(form, "expires_in_days")
            if label is not None and len(label) > 200:
                raise _FormRefused(400, "the label is at most 200 characters")
            if not uses.isdigit() or not (days == "" or days.isdigit()):
                raise _FormRefused(400, "the uses and the days are whole numbers")
            if days and not 1 <= int(days) <= auth.MAX_INVITE_DAYS:
                raise _FormRefused(400, f"an invite lasts 1 to {auth.MAX_INVITE_DAYS} days")
            issued = await auth.issue_invite(
                services,
                admin,
                label=label,
                max_redemptions=int(uses),
                expires_in_days=int(days) if days else None,
            )
            return await _ops(request, admin, created=issued.code)
        if action == "revoke_invite":
            await services.db.run_write(invites.revoke, _text(form, "code_id"), now=utcnow())
            return await _ops(request, admin)
        raise _FormRefused(400, "unknown form")
    except _FormRefused as refused:
        return await _ops(request, admin, status=refused.status, error=str(refused))
    except DomainError as error:
        return await _ops(request, admin, status=STATUS[error.code], error=str(error))
