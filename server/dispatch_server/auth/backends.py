"""Starlette authentication: the API key backend puts the caller on `request.user`, and
`admit` is the policy guard a keyed route runs before its handler.

A bad key is not refused here: a public route does not care what Authorization header it
gets. The backend records why the key was refused, and `admit` raises that on keyed routes:
a KeyRefused, whose answer is the same whatever the reason (the reason is logged).
"""

from __future__ import annotations

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    UnauthenticatedUser,
)
from starlette.requests import HTTPConnection, Request

from dispatch_server.auth.api_keys import KeyRefused, authenticate
from dispatch_server.auth.operators import OperatorRefused, OperatorToken, read_token
from dispatch_server.auth.policy import authorize, refuse_account_key
from dispatch_server.auth.principal import Principal, Scope
from dispatch_server.core.errors import DomainError
from dispatch_server.services import Services


class KeyHolder(BaseUser):
    """A request made with a valid API key."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return f"{self.principal.kind} key {self.principal.key_id}"


class RefusedKey(UnauthenticatedUser):
    """A request whose Authorization header was refused, and why."""

    def __init__(self, error: DomainError) -> None:
        self.error = error


class ApiKeyBackend(AuthenticationBackend):
    """`Authorization: Bearer <key_id>.<secret>`."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return AuthCredentials(), RefusedKey(KeyRefused("not a Bearer Authorization header"))
        services: Services = conn.app.state.services
        try:
            principal = await services.db.run_read(authenticate, token.strip())
        except DomainError as error:
            return AuthCredentials(), RefusedKey(error)
        return AuthCredentials(["api_key", principal.kind]), KeyHolder(principal)


async def admit(request: Request, scope: Scope, permission: str | None = None) -> Principal:
    """The request's principal, if it may act at `scope` on the inbox in the path, with
    `permission` if the route names one; else the error to answer with (401 without a
    usable key, 403 or 404 per the policy)."""
    user = request.user
    if isinstance(user, RefusedKey):
        raise user.error
    if not isinstance(user, KeyHolder):
        raise KeyRefused("no Authorization header")
    principal = user.principal
    inbox_id = request.path_params.get("inbox_id")
    if not authorize(principal, scope, inbox_id, permission):
        services: Services = request.app.state.services
        await services.db.run_read(refuse_account_key, principal, inbox_id)
    return principal


def bearer_token(request: Request) -> str | None:
    """The token of a `Bearer` Authorization header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def admit_operator(request: Request) -> OperatorToken:
    """The operator whose token the request carries; else OperatorRefused (401)."""
    token = bearer_token(request)
    if token is None:
        raise OperatorRefused("no Bearer Authorization header")
    services: Services = request.app.state.services
    return read_token(services.settings.operators, token)
