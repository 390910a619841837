"""Operator accounts, `/auth/*`: signup, login, email verification, the beta waitlist, and
the admins' invite codes.

Signup and login answer a session: the operator's token (a JWT) and the account, whose
`email_verified` says whether the email was verified; login never refuses an unverified
operator. The verification code is mailed as a notice (dispatch_server.outbound.notices):
best-effort, so a signup succeeds when its mail fails (`verification_sent: false`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import attrs

from dispatch_server.auth import policy
from dispatch_server.auth.operators import (
    MAX_PASSWORD_CHARS,
    TOKEN_TYPE,
    OperatorToken,
    check_password,
    issue_token,
    normalize_email,
)
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, Forbidden
from dispatch_server.domain import invites, operators
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field, project
from dispatch_server.outbound.notices import send_notice
from dispatch_server.ratelimit.policy import Policy
from dispatch_server.services import Services

log = logging.getLogger("dispatch_server.auth")

MAX_INVITE_DAYS = 3650


class InvalidCredentials(DomainError):
    code = ErrorCode.INVALID_CREDENTIALS

    def __init__(self) -> None:
        super().__init__("the email or the password is wrong")


@attrs.frozen(kw_only=True)
class Operator:
    id: str
    email: str
    email_verified: bool = field(description="false until the emailed code is given")
    is_admin: bool = field(description="manages invite codes and reads the ops status")
    active_agent_id: str | None = field(description="the claimed agent the operator acts for")
    created_at: datetime


@attrs.frozen(kw_only=True)
class Session:
    """An operator's token, and the account it is for."""

    access_token: str = field(description="`Authorization: Bearer <access_token>`")
    token_type: str = field(description="always `bearer`")
    expires_at: datetime
    operator: Operator
    verification_sent: bool | None = field(
        default=None,
        description="on signup and resend: whether the verification mail was handed to "
        "the mail provider (best-effort; false: ask again with /auth/verify-email/resend)",
    )


def is_admin_operator(services: Services, operator: operators.Operator) -> bool:
    """Whether the operator is an admin (the API's answers and the console's pages)."""
    return policy.is_admin(
        services.settings.operators, email=operator.email, email_verified=operator.email_verified
    )


def session(
    services: Services, operator: operators.Operator, *, verification_sent: bool | None = None
) -> Session:
    issued = issue_token(
        services.settings.operators,
        operator_id=operator.id,
        email=operator.email,
        email_verified=operator.email_verified,
        now=utcnow(),
    )
    return Session(
        access_token=issued.token,
        token_type=TOKEN_TYPE,
        expires_at=issued.expires_at,
        operator=project(
            Operator,
            operator,
            email_verified=operator.email_verified,
            is_admin=is_admin_operator(services, operator),
        ),
        verification_sent=verification_sent,
    )


async def current_operator(call: Call[Any]) -> operators.Operator:
    """The account of the request's operator token, as it is now."""
    return await call.services.db.run_read(operators.get_operator, call.operator.operator_id)


async def require_admin(services: Services, token: OperatorToken) -> operators.Operator:
    operator = await services.db.run_read(operators.get_operator, token.operator_id)
    if not is_admin_operator(services, operator):
        raise Forbidden("this needs an admin operator (DISPATCH_ADMIN_EMAILS, email verified)")
    return operator


async def _send_code(services: Services, operator: operators.Operator) -> bool:
    settings = services.settings.operators
    ttl = timedelta(seconds=settings.verification_code_ttl_seconds)
    issued = await services.db.run_write(operators.issue_code, operator.id, now=utcnow(), ttl=ttl)
    minutes = max(1, settings.verification_code_ttl_seconds // 60)
    return await send_notice(
        services,
        to=operator.email,
        subject="Your Dispatch verification code",
        text=f"Your Dispatch verification code is {issued.code}.\n\n"
        f"It expires in {minutes} minutes. If you did not sign up for Dispatch, ignore this "
        "mail.\n",
    )


# --- signup and login ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SignupRequest:
    email: str = field(maxLength=254)
    password: str = field(maxLength=MAX_PASSWORD_CHARS, description="10 to 1024 characters")
    invite_code: str | None = field(
        default=None, maxLength=200, description="needed while signup is invite-only"
    )


async def signup(call: Call[SignupRequest]) -> Session:
    body = call.body
    return await sign_up(
        call.services, email=body.email, password=body.password, invite_code=body.invite_code
    )


async def sign_up(
    services: Services, *, email: str, password: str, invite_code: str | None
) -> Session:
    """Create an operator account and mail its verification code (the API and the console)."""
    settings = services.settings.operators
    if settings.signup == "closed":
        raise invites.SignupClosed("operator signup is closed (DISPATCH_OPERATOR_SIGNUP=closed)")
    email = normalize_email(email)
    password = check_password(password)
    password_hash = await asyncio.to_thread(services.passwords.hash, password)
    operator = await services.db.run_write(
        operators.create_operator,
        email=email,
        password_hash=password_hash,
        invite_code=invite_code,
        invite_required=settings.signup == "invite",
        env_invite_code=settings.beta_invite_code,
        now=utcnow(),
    )
    sent = await _send_code(services, operator)
    return session(services, operator, verification_sent=sent)


@attrs.frozen(kw_only=True)
class LoginRequest:
    email: str = field(maxLength=254)
    password: str = field(maxLength=MAX_PASSWORD_CHARS)


async def login(call: Call[LoginRequest]) -> Session:
    return await log_in(call.services, email=call.body.email, password=call.body.password)


async def log_in(services: Services, *, email: str, password: str) -> Session:
    """One answer for an unknown email and a wrong password, at the cost of one Argon2id
    verification each (see dispatch_server.auth.operators)."""
    try:
        normalized: str | None = normalize_email(email)
    except DomainError:
        normalized = None  # not an address: no account, but the same work and answer
    found = operators.Credentials(operator=None, password_hash=None)
    if normalized is not None:
        found = await services.db.run_read(operators.login_credentials, normalized)
    matches = await asyncio.to_thread(services.passwords.verify, found.password_hash, password)
    if not matches or found.operator is None or found.password_hash is None:
        raise InvalidCredentials()
    if services.passwords.needs_rehash(found.password_hash):
        rehashed = await asyncio.to_thread(services.passwords.hash, password)
        await services.db.run_write(
            operators.replace_password_hash, found.operator.id, rehashed, utcnow()
        )
    return session(services, found.operator)


# --- email verification --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VerifyRequest:
    code: str = field(maxLength=20, description="the code mailed at signup")


async def verify_email(call: Call[VerifyRequest]) -> Session:
    return await verify(call.services, call.operator.operator_id, call.body.code)


async def verify(services: Services, operator_id: str, code: str) -> Session:
    """Verify the operator's email with the mailed code; welcome them once verified."""
    settings = services.settings.operators
    outcome = await services.db.run_write(
        operators.verify_email,
        operator_id,
        code.strip(),
        now=utcnow(),
        max_attempts=settings.verification_max_attempts,
    )
    if outcome.wrong is not None:
        raise outcome.wrong
    assert outcome.operator is not None
    operator = outcome.operator
    if outcome.verified_now:
        await send_notice(
            services,
            to=operator.email,
            subject="Welcome to Dispatch",
            text="Your email is verified.\n\n"
            "Next: claim the agents you run. An agent mints a claim token with its API key "
            "(POST /v1/agent/claim-token); you claim it with POST /v1/agent/claim and get "
            "fresh keys for it. See the guide's page Operators and claims.\n",
        )
    return session(services, operator)


async def resend_verification(call: Call[None]) -> Session:
    return await resend(call.services, call.operator.operator_id)


async def resend(services: Services, operator_id: str) -> Session:
    """A new verification code for an unverified operator (the earlier ones stop working)."""
    operator = await services.db.run_read(operators.get_operator, operator_id)
    sent = None
    if not operator.email_verified:
        sent = await _send_code(services, operator)
    return session(services, operator, verification_sent=sent)


async def me(call: Call[None]) -> Session:
    return session(call.services, await current_operator(call))


# --- the waitlist --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InterestRequest:
    email: str = field(maxLength=254)
    note: str | None = field(default=None, maxLength=2000)


@attrs.frozen(kw_only=True)
class InterestRecorded:
    """The same answer whether the email was on the list already or not."""

    status: str = field(description="always `recorded`")


async def beta_interest(call: Call[InterestRequest]) -> InterestRecorded:
    email = normalize_email(call.body.email)
    await call.services.db.run_write(
        operators.record_interest, email=email, note=call.body.note, now=utcnow()
    )
    return InterestRecorded(status="recorded")


# --- invite codes (admins) -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InviteCode:
    id: str
    hint: str = field(description="the code's first characters")
    label: str | None
    max_redemptions: int
    redemptions: int
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, invite: invites.InviteCode) -> InviteCode:
        return project(cls, invite)


@attrs.frozen(kw_only=True)
class CreatedInviteCode:
    """A new invite code; `code` is shown only here."""

    code: str
    invite: InviteCode


@attrs.frozen(kw_only=True)
class InviteCodeList:
    data: tuple[InviteCode, ...]


@attrs.frozen(kw_only=True)
class CreateInviteRequest:
    label: str | None = field(default=None, maxLength=200)
    max_redemptions: int = field(default=1, minimum=1, maximum=invites.MAX_REDEMPTIONS)
    expires_in_days: int | None = field(
        default=None, minimum=1, maximum=MAX_INVITE_DAYS, description="null: never expires"
    )


async def list_invites(call: Call[None]) -> InviteCodeList:
    await require_admin(call.services, call.operator)
    codes = await call.services.db.run_read(invites.list_codes)
    return InviteCodeList(data=tuple(InviteCode.of(code) for code in codes))


async def create_invite(call: Call[CreateInviteRequest]) -> CreatedInviteCode:
    admin = await require_admin(call.services, call.operator)
    body = call.body
    return await issue_invite(
        call.services,
        admin,
        label=body.label,
        max_redemptions=body.max_redemptions,
        expires_in_days=body.expires_in_days,
    )


async def issue_invite(
    services: Services,
    admin: operators.Operator,
    *,
    label: str | None,
    max_redemptions: int,
    expires_in_days: int | None,
) -> CreatedInviteCode:
    """A new invite code (the API and the console's ops page)."""
    now = utcnow()
    created = await services.db.run_write(
        invites.create,
        label=label,
        max_redemptions=max_redemptions,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        created_by=admin.id,
        now=now,
    )
    return CreatedInviteCode(code=created.code, invite=InviteCode.of(created.invite))


async def revoke_invite(call: Call[None]) -> InviteCode:
    await require_admin(call.services, call.operator)
    revoked = await call.services.db.run_write(invites.revoke, call.path("code_id"), now=utcnow())
    return InviteCode.of(revoked)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/auth/signup",
        rate_limit=Policy.SIGNUP,
        handler=signup,
        summary="Create an operator account; the verification code is mailed",
        scope=None,
        body=SignupRequest,
        response=Session,
        status=201,
    ),
    Endpoint(
        method="POST",
        path="/auth/login",
        rate_limit=Policy.LOGIN,
        handler=login,
        summary="Log in: a session token (unverified operators too, with email_verified false)",
        scope=None,
        body=LoginRequest,
        response=Session,
    ),
    Endpoint(
        method="POST",
        path="/auth/verify-email",
        rate_limit=Policy.VERIFY_EMAIL,
        handler=verify_email,
        summary="Verify the operator's email with the mailed code",
        scope=None,
        operator=True,
        body=VerifyRequest,
        response=Session,
    ),
    Endpoint(
        method="POST",
        path="/auth/verify-email/resend",
        rate_limit=Policy.VERIFY_EMAIL,
        handler=resend_verification,
        summary="Mail a new verification code (the earlier ones stop working)",
        scope=None,
        operator=True,
        response=Session,
    ),
    Endpoint(
        method="GET",
        path="/auth/me",
        handler=me,
        summary="The signed-in operator, with a fresh token",
        scope=None,
        operator=True,
        response=Session,
    ),
    Endpoint(
        method="POST",
        path="/auth/beta-interest",
        rate_limit=Policy.SIGNUP,
        handler=beta_interest,
        summary="Join the private beta's waitlist",
        scope=None,
        body=InterestRequest,
        response=InterestRecorded,
        status=202,
    ),
    Endpoint(
        method="GET",
        path="/auth/beta-codes",
        handler=list_invites,
        summary="Managed invite codes (admins)",
        scope=None,
        operator=True,
        response=InviteCodeList,
    ),
    Endpoint(
        method="POST",
        path="/auth/beta-codes",
        handler=create_invite,
        summary="Create an invite code with a redemption limit and an expiry (admins)",
        scope=None,
        operator=True,
        body=CreateInviteRequest,
        response=CreatedInviteCode,
        status=201,
    ),
    Endpoint(
        method="DELETE",
        path="/auth/beta-codes/{code_id}",
        handler=revoke_invite,
        summary="Revoke an invite code (admins)",
        scope=None,
        operator=True,
        response=InviteCode,
    ),
]
