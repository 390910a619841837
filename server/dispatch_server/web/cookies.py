"""The console's browser session: the operator's token in an HttpOnly cookie, and the
double-submit CSRF token that every form carries.

The session cookie holds the same signed operator token the API issues (so one rule decides
who an operator is, `dispatch_server.auth.operators.read_token`); JavaScript cannot read it
(HttpOnly), other sites' pages do not send it on their requests (SameSite=Lax: forms posted
from elsewhere arrive without it), and it travels only over HTTPS when the console is served
over HTTPS (Secure). Every form also posts the CSRF token, which must equal the `csrf`
cookie, a random value set for the browser: a page on another origin can neither read that
cookie nor set it.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from dispatch_server.auth.operators import OperatorRefused, OperatorToken, read_token
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode
from dispatch_server.services import Services

SESSION_COOKIE = "dispatch_session"
CSRF_COOKIE = "dispatch_csrf"
CSRF_FIELD = "csrf"


class CsrfRefused(DomainError):
    code = ErrorCode.FORBIDDEN

    def __init__(self) -> None:
        super().__init__("the form's CSRF token is missing or wrong: reload the page")


def _secure(request: Request) -> bool:
    """Secure in production (behind a TLS-terminating proxy the request itself is plain
    HTTP), and whenever the request came over HTTPS."""
    services: Services = request.app.state.services
    return services.settings.runtime.is_production or request.url.scheme == "https"


def csrf_token(request: Request) -> str:
    """The browser's CSRF token: its cookie's, or a new one (`set_csrf` stores it)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_csrf(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), path="/"
        )


def check_csrf(request: Request, submitted: str | None) -> None:
    """The form's token equals the browser's cookie, and the browser does not say the form
    came from another site (Origin, Sec-Fetch-Site)."""
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted:
        raise CsrfRefused()
    if not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfRefused()
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfRefused()
    origin = request.headers.get("origin")  # behind a TLS proxy only the scheme differs
    if origin and origin != "null" and origin.partition("://")[2] != request.url.netloc:
        raise CsrfRefused()


def _fresh_csrf(request: Request, response: Response) -> None:
    """A new CSRF token when the session changes: one planted before cannot outlive it."""
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(32),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def set_session(request: Request, response: Response, token: str, expires_at: datetime) -> None:
    _fresh_csrf(request, response)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(0, int((expires_at - utcnow()).total_seconds())),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_session(request: Request, response: Response) -> None:
    _fresh_csrf(request, response)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )


def operator_of(request: Request, services: Services) -> OperatorToken | None:
    """The signed-in operator, or None (no cookie, or one that is expired or forged)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return read_token(services.settings.operators, token)
    except OperatorRefused:
        return None
