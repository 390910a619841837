"""Invite codes of the private beta: the single code from the environment, and managed codes
(stored as hashes, each with a redemption limit and an optional expiry) that admins create,
list and revoke. Redeeming a managed code takes one use with one conditional UPDATE, so two
signups racing for its last use cannot both get it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.db import tables as t

MAX_CODE_CHARS = 200
HINT_CHARS = 6
MAX_REDEMPTIONS = 1_000_000


class InviteRefused(DomainError):
    code = ErrorCode.INVITE_CODE_INVALID

    def __init__(self, message: str) -> None:
        super().__init__(message, param="invite_code")


@attrs.frozen(kw_only=True)
class InviteCode:
    id: str
    hint: str  # the code's first characters, to tell codes apart in a list
    label: str | None
    max_redemptions: int
    redemptions: int
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


@attrs.frozen(kw_only=True)
class CreatedInviteCode:
    invite: InviteCode
    code: str = attrs.field(repr=False)  # shown once, at creation


class SignupClosed(DomainError):
    """A signup (agent or operator) that DISPATCH_AGENT_SIGNUP / DISPATCH_OPERATOR_SIGNUP
    closed."""

    code = ErrorCode.SIGNUP_CLOSED


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def redeem(
    conn: sa.Connection,
    code: str | None,
    *,
    env_code: str | None,
    now: datetime,
) -> str | None:
    """Take one use of `code`, or raise InviteRefused (missing, unknown, revoked, expired, used
    up: the message says which, since an invitee who mistyped needs to know). The id of the
    redemption recorded (None for the environment's code), for `attribute`."""
    if not code:
        raise InviteRefused("signup is invite-only: give invite_code")
    if len(code) > MAX_CODE_CHARS:
        raise InviteRefused("invite_code is not a valid invite code")
    if env_code and hmac.compare_digest(code.encode(), env_code.encode()):
        return None
    codes = t.beta_invite_codes
    row = conn.execute(
        sa.select(codes.c.id, codes.c.revoked_at, codes.c.expires_at).where(
            codes.c.code_hash == hash_code(code)
        )
    ).first()
    if row is None:
        raise InviteRefused("invite_code is not a valid invite code")
    if row.revoked_at is not None:
        raise InviteRefused("this invite code was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise InviteRefused("this invite code expired")
    taken = conn.execute(
        codes.update()
        .where(
            codes.c.id == row.id,
            codes.c.redemptions < codes.c.max_redemptions,
            # Checked again here: a code revoked or expiring while this ran is not redeemed.
            codes.c.revoked_at.is_(None),
            sa.or_(codes.c.expires_at.is_(None), codes.c.expires_at > now),
        )
        .values(redemptions=codes.c.redemptions + 1)
    )
    if taken.rowcount != 1:
        raise InviteRefused("this invite code has been used up, revoked or expired")
    redemption_id = new_id()
    conn.execute(
        t.beta_invite_code_redemptions.insert().values(
            id=redemption_id, code_id=row.id, user_id=None, redeemed_at=now
        )
    )
    return redemption_id


def attribute(conn: sa.Connection, redemption_id: str, user_id: str) -> None:
    """Record which operator account a redemption made."""
    redemptions = t.beta_invite_code_redemptions
    conn.execute(
        redemptions.update().where(redemptions.c.id == redemption_id).values(user_id=user_id)
    )


_COLUMNS = (
    t.beta_invite_codes.c.id,
    t.beta_invite_codes.c.hint,
    t.beta_invite_codes.c.label,
    t.beta_invite_codes.c.max_redemptions,
    t.beta_invite_codes.c.redemptions,
    t.beta_invite_codes.c.expires_at,
    t.beta_invite_codes.c.revoked_at,
    t.beta_invite_codes.c.created_at,
)


def create(
    conn: sa.Connection,
    *,
    label: str | None,
    max_redemptions: int,
    expires_at: datetime | None,
    created_by: str,
    now: datetime,
) -> CreatedInviteCode:
    if not 1 <= max_redemptions <= MAX_REDEMPTIONS:
        raise InvalidInput(
            f"max_redemptions must be 1 to {MAX_REDEMPTIONS}", param="max_redemptions"
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future", param="expires_at")
    code = "beta-" + secrets.token_urlsafe(12)
    invite = InviteCode(
        id=new_id(),
        hint=code[: HINT_CHARS + 5],
        label=label,
        max_redemptions=max_redemptions,
        redemptions=0,
        expires_at=expires_at,
        revoked_at=None,
        created_at=now,
    )
    conn.execute(
        t.beta_invite_codes.insert().values(
            **attrs.asdict(invite), code_hash=hash_code(code), created_by=created_by
        )
    )
    return CreatedInviteCode(invite=invite, code=code)


def list_codes(conn: sa.Connection) -> list[InviteCode]:
    """Every managed code, the newest first."""
    rows = conn.execute(
        sa.select(*_COLUMNS).order_by(
            t.beta_invite_codes.c.created_at.desc(), t.beta_invite_codes.c.id
        )
    )
    return [InviteCode(**row._mapping) for row in rows]


def revoke(conn: sa.Connection, code_id: str, *, now: datetime) -> InviteCode:
    """Revoke a code; revoking it again changes nothing."""
    if not is_id(code_id):
        raise NotFound("invite code")
    codes = t.beta_invite_codes
    conn.execute(
        codes.update()
        .where(codes.c.id == code_id, codes.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    row = conn.execute(sa.select(*_COLUMNS).where(codes.c.id == code_id)).first()
    if row is None:
        raise NotFound("invite code")
    return InviteCode(**row._mapping)
