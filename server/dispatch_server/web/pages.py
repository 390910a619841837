"""The console's pages: server-rendered HTML, forms that work without JavaScript.

Each handler reads the session cookie, calls the same service functions the API's routes
call (signup, login and verification in `dispatch_server.api.auth`, under the same rate
limits), and renders a template. A refused form is the page again with the error; nothing
here answers JSON.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from dispatch_server.api import agent, auth, metrics
from dispatch_server.api import ops as ops_api
from dispatch_server.config import Settings
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, NotFound
from dispatch_server.domain import claims, form_nonces, invites, operators
from dispatch_server.http import rate_limits
from dispatch_server.http.errors import STATUS
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.web import agent_console, cookies
from dispatch_server.web.acting import acting_for, inbox
from dispatch_server.web.common import (
    CONSOLE_FORM_BYTES,
    HEADERS,
    FormRefused,
    console_operator,
    read_form,
    redirect,
    render,
    services_of,
    signed_in,
    text_field,
)


def _signup_page(request: Request, status: int = 200, **context: Any) -> Response:
    services = services_of(request)
    settings = services.settings.operators
    return render(
        request,
        "signup.html",
        status=status,
        local_domain=services.settings.inboxes.domain,
        invite_required=settings.signup == "invite",
        signup_closed=settings.signup == "closed",
        **context,
    )


async def landing(request: Request) -> Response:
    counters = await metrics.current_public_metrics(request.app.state, services_of(request))
    signed_in = cookies.operator_of(request, services_of(request)) is not None
    return render(request, "landing.html", counters=counters, signed_in=signed_in)


async def signup_page(request: Request) -> Response:
    operator = await signed_in(request)
    if operator is not None and operator.email_verified:
        return redirect("/console")
    return _signup_page(request, operator=operator)


async def signup_post(request: Request) -> Response:
    """One form handler for the page's forms, told apart by their `action` field."""
    services = services_of(request)
    try:
        form = await read_form(request)
    except FormRefused as refused:
        return _signup_page(request, refused.status, error=str(refused))
    except DomainError as error:
        return _signup_page(request, STATUS[error.code], error=str(error))
    action = text_field(form, "action")
    try:
        if action == "signup":
            await rate_limits.admit(request, Policy.SIGNUP)
            issued = await auth.sign_up(
                services,
                email=text_field(form, "email"),
                password=text_field(form, "password"),
                invite_code=text_field(form, "invite_code") or None,
            )
        elif action == "login":
            await rate_limits.admit(request, Policy.LOGIN)
            issued = await auth.log_in(
                services, email=text_field(form, "email"), password=text_field(form, "password")
            )
        elif action in ("verify", "resend"):
            operator = await signed_in(request)
            if operator is None:
                return redirect("/signup")
            await rate_limits.admit(request, Policy.VERIFY_EMAIL)
            if action == "verify":
                issued = await auth.verify(services, operator.id, text_field(form, "code"))
            else:
                issued = await auth.resend(services, operator.id)
        else:
            return _signup_page(request, 400, error="unknown form")
    except DomainError as error:
        response = _signup_page(
            request,
            STATUS[error.code],
            error=str(error),
            operator=await signed_in(request),
            email=text_field(form, "email") if action == "signup" else None,
            login_email=text_field(form, "email") if action == "login" else None,
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


async def _console(
    request: Request,
    operator: operators.Operator,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    keys: tuple[str, str] | None = None,
    outcome: agent_console.Outcome | None = None,
) -> Response:
    """The console: the operator's agents, and the active agent's inboxes and tools. The
    query may ask for an inbox's keys (`keys=`) or its latest OTP (`otp=`)."""
    services = services_of(request)
    agents = await services.db.run_read(claims.list_claimed, operator.id)
    acting = await acting_for(services, operator)
    context: dict[str, Any] = {}
    if acting is not None:
        query = {name: request.query_params[name] for name in request.query_params}
        context["inboxes"] = await agent_console.listed_inboxes(services, acting)
        context["domains"] = await agent_console.listed_domains(services, acting)
        context["local_domain"] = services.settings.inboxes.domain
        context["inject_enabled"] = agent_console.inject_enabled(services)
        context["nonce"] = form_nonces.new_nonce()
        try:
            if "keys" in query:
                context["keys_inbox"] = await inbox(services, acting, query["keys"])
                context["inbox_keys"] = await agent_console.inbox_keys_of(
                    services, acting, query["keys"]
                )
            if "otp" in query:
                context["otp_inbox"] = await inbox(services, acting, query["otp"])
                context["otp"] = await agent_console.latest_otp(services, acting, query["otp"])
        except NotFound as missing:
            status, error = 404, str(missing)
        notice = notice or await agent_console.done_notice(services, acting, query)
    return render(
        request,
        "console.html",
        status=status,
        operator=operator,
        agents=agents,
        acting=acting,
        is_admin=auth.is_admin_operator(services, operator),
        agent_invite_required=services.settings.operators.agent_signup == "invite",
        error=error,
        notice=notice or (outcome.notice if outcome else None),
        keys=keys,
        outcome=outcome,
        **context,
    )


async def console(request: Request) -> Response:
    operator = await console_operator(request)
    if operator is None:
        return redirect("/signup")
    return await _console(request, operator)


async def console_post(request: Request) -> Response:
    """The console's forms: claim an agent (by claim token, wallet signature or API key),
    choose the active agent (the rules and rate limits of their API routes), and the active
    agent's work (`agent_console`)."""
    services = services_of(request)
    operator = await console_operator(request)
    if operator is None:
        return redirect("/signup")
    try:
        form = await read_form(request, limit=CONSOLE_FORM_BYTES)
    except FormRefused as refused:
        return await _console(request, operator, status=refused.status, error=str(refused))
    except DomainError as error:
        return await _console(request, operator, status=STATUS[error.code], error=str(error))
    action = text_field(form, "action")
    keys: tuple[str, str] | None = None
    notice: str | None = None
    outcome: agent_console.Outcome | None = None
    try:
        if action == "claim":
            await rate_limits.admit(request, Policy.CLAIM)
            wanted = claims.ClaimRequest(
                claim_email=text_field(form, "claim_email") or None,
                claim_token=text_field(form, "claim_token") or None,
                api_key=text_field(form, "api_key") or None,
                wallet_signature=text_field(form, "wallet_signature") or None,
            )
            claimed = await services.db.run_write(claims.claim, operator.id, wanted, now=utcnow())
            notice = f"claimed {claimed.agent_name} ({claimed.inbox_address})"
            keys = (claimed.account_key, claimed.inbox_key)
        elif action == "new_workspace":
            await rate_limits.admit(request, Policy.SIGNUP)
            claimed = await services.db.run_write(
                _new_workspace,
                operator.id,
                agent.SignupRequest(
                    name=_bounded_name(form),
                    local_part=text_field(form, "local_part").strip() or None,
                    invite_code=text_field(form, "invite_code") or None,
                ),
                services.settings,
            )
            notice = f"created {claimed.agent_name} ({claimed.inbox_address}); acting for it"
            keys = (claimed.account_key, claimed.inbox_key)
        elif action == "switch":
            switched = await services.db.run_write(
                claims.switch_active, operator.id, text_field(form, "agent_id")
            )
            notice = f"now acting for {switched.agent_name}"
        else:
            acting = await acting_for(services, operator)
            if acting is None:
                return await _console(request, operator, status=409, error="claim an agent first")
            outcome = await agent_console.act(request, services, acting, action, form)
            if outcome is None:
                return await _console(request, operator, status=400, error="unknown form")
            if outcome.redirect_to is not None:
                return redirect(outcome.redirect_to)
    except DomainError as error:
        response = await _console(request, operator, status=STATUS[error.code], error=str(error))
        return rate_limits.add_headers(request, response)
    response = await _console(request, operator, notice=notice, keys=keys, outcome=outcome)
    return rate_limits.add_headers(request, response)


def _bounded_name(form: dict[str, str]) -> str | None:
    name = text_field(form, "name").strip()
    if len(name) > agent.MAX_NAME_CHARS:
        raise FormRefused(400, f"the name is at most {agent.MAX_NAME_CHARS} characters")
    return name or None


def _new_workspace(
    conn: sa.Connection, operator_id: str, wanted: agent.SignupRequest, settings: Settings
) -> claims.Claim:
    """A new workspace (as POST /v1/agent/signup makes it) claimed by the operator, in one
    transaction: there is never a new workspace nobody holds."""
    created = agent.signup_in(conn, wanted, settings)
    return claims.claim(
        conn, operator_id, claims.ClaimRequest(api_key=created.account_key), now=utcnow()
    )


# --- ops (admins) ----------------------------------------------------------------------


class _NotAdmin(Exception):
    pass


async def _admin(request: Request) -> operators.Operator | None:
    """The signed-in admin; None when not signed in; _NotAdmin for anyone else."""
    operator = await console_operator(request)
    if operator is None:
        return None
    if not auth.is_admin_operator(services_of(request), operator):
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
    services = services_of(request)
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
    health = await ops_api.read_status(services_of(request))
    return render(request, "_ops_status.html", health=health)


async def ops_post(request: Request) -> Response:
    """Create or revoke an invite code."""
    try:
        admin = await _admin(request)
    except _NotAdmin:
        return render(request, "forbidden.html", status=403)
    if admin is None:
        return redirect("/signup")
    services = services_of(request)
    try:
        form = await read_form(request)
        action = text_field(form, "action")
        if action == "create_invite":
            label = text_field(form, "label").strip() or None
            uses = text_field(form, "max_redemptions") or "1"
            days = text_field(form, "expires_in_days")
            if label is not None and len(label) > 200:
                raise FormRefused(400, "the label is at most 200 characters")
            if not uses.isdigit() or not (days == "" or days.isdigit()):
                raise FormRefused(400, "the uses and the days are whole numbers")
            if days and not 1 <= int(days) <= auth.MAX_INVITE_DAYS:
                raise FormRefused(400, f"an invite lasts 1 to {auth.MAX_INVITE_DAYS} days")
            issued = await auth.issue_invite(
                services,
                admin,
                label=label,
                max_redemptions=int(uses),
                expires_in_days=int(days) if days else None,
            )
            return await _ops(request, admin, created=issued.code)
        if action == "revoke_invite":
            await services.db.run_write(invites.revoke, text_field(form, "code_id"), now=utcnow())
            return await _ops(request, admin)
        raise FormRefused(400, "unknown form")
    except FormRefused as refused:
        return await _ops(request, admin, status=refused.status, error=str(refused))
    except DomainError as error:
        return await _ops(request, admin, status=STATUS[error.code], error=str(error))
