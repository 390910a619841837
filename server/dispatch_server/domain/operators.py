"""Operator accounts: creating one (with its password hash and an invite redeemed when the
beta asks for one), finding one to log in, email verification codes, and the waitlist.

Passwords arrive here already hashed (see dispatch_server.auth.operators): hashing is slow
on purpose and never runs inside a transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import attrs
import sqlalchemy as sa

from dispatch_server.core.errors import DomainError, ErrorCode, NotFound
from dispatch_server.core.ids import new_id
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.domain import invites

CODE_DIGITS = 6


class EmailTaken(DomainError):
    code = ErrorCode.EMAIL_TAKEN


class CodeRefused(DomainError):
    code = ErrorCode.VERIFICATION_CODE_INVALID

    def __init__(self, message: str) -> None:
        super().__init__(message, param="code")


class AttemptsExceeded(DomainError):
    code = ErrorCode.VERIFICATION_ATTEMPTS_EXCEEDED

    def __init__(self) -> None:
        super().__init__(
            "too many wrong codes: this one is spent; ask for another with "
            "POST /auth/verify-email/resend",
            param="code",
        )


@attrs.frozen(kw_only=True)
class Operator:
    id: str
    email: str
    email_verified_at: datetime | None
    active_agent_id: str | None
    created_at: datetime

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


@attrs.frozen(kw_only=True)
class Credentials:
    """What a login compares against: the account, if any, and its password hash."""

    operator: Operator | None
    password_hash: str | None = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class IssuedCode:
    """A verification code to mail; only its hash is stored."""

    code: str = attrs.field(repr=False)
    expires_at: datetime


def hash_code(code: str) -> str:
    # Six digits are only a million values: the hash keeps the code out of the database's
    # backups, and the attempt limit (not the hash) is what stops guessing.
    return hashlib.sha256(code.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


_OPERATOR_COLUMNS = (
    t.users.c.id,
    t.users.c.email,
    t.users.c.email_verified_at,
    t.users.c.active_agent_id,
    t.users.c.created_at,
)


def get_operator(conn: sa.Connection, operator_id: str) -> Operator:
    row = conn.execute(sa.select(*_OPERATOR_COLUMNS).where(t.users.c.id == operator_id)).first()
    if row is None:
        raise NotFound("operator")
    return Operator(**row._mapping)


def create_operator(
    conn: sa.Connection,
    *,
    email: str,
    password_hash: str,
    invite_code: str | None,
    invite_required: bool,
    env_invite_code: str | None,
    now: datetime,
) -> Operator:
    """A new account for `email` (already normalized), redeeming `invite_code` when the beta
    requires one (InviteRefused); EmailTaken when the email has an account."""
    # The invite first: whether an email has an account is not told to the uninvited.
    redemption = None
    if invite_required:
        redemption = invites.redeem(conn, invite_code, env_code=env_invite_code, now=now)
    operator = Operator(
        id=new_id(), email=email, email_verified_at=None, active_agent_id=None, created_at=now
    )
    # The unique email decides, so two signups racing for one email get one account and one
    # EmailTaken (no check-then-insert window).
    inserted = conn.execute(_INSERT_USER[dialect.name(conn)], attrs.asdict(operator))
    if inserted.rowcount == 0:
        raise EmailTaken("an account with this email exists: log in", param="email")
    conn.execute(
        t.user_auth.insert().values(
            user_id=operator.id, password_hash=password_hash, updated_at=now
        )
    )
    if redemption is not None:
        invites.attribute(conn, redemption, operator.id)
    return operator


def login_credentials(conn: sa.Connection, email: str) -> Credentials:
    row = conn.execute(
        sa.select(*_OPERATOR_COLUMNS, t.user_auth.c.password_hash)
        .join(t.user_auth, t.user_auth.c.user_id == t.users.c.id)
        .where(t.users.c.email == email)
    ).first()
    if row is None:
        return Credentials(operator=None, password_hash=None)
    values = dict(row._mapping)
    password_hash = values.pop("password_hash")
    return Credentials(operator=Operator(**values), password_hash=password_hash)


def replace_password_hash(
    conn: sa.Connection, operator_id: str, password_hash: str, now: datetime
) -> None:
    conn.execute(
        t.user_auth.update()
        .where(t.user_auth.c.user_id == operator_id)
        .values(password_hash=password_hash, updated_at=now)
    )


def issue_code(
    conn: sa.Connection, operator_id: str, *, now: datetime, ttl: timedelta
) -> IssuedCode:
    """A new verification code for the operator; the codes sent before it stop working."""
    _spend_codes(conn, operator_id, now)
    code = new_code()
    expires_at = now + ttl
    conn.execute(
        t.user_email_verification_codes.insert().values(
            id=new_id(),
            user_id=operator_id,
            code_hash=hash_code(code),
            attempts=0,
            expires_at=expires_at,
            consumed_at=None,
            created_at=now,
        )
    )
    return IssuedCode(code=code, expires_at=expires_at)


def _spend_codes(conn: sa.Connection, operator_id: str, now: datetime) -> None:
    codes = t.user_email_verification_codes
    conn.execute(
        codes.update()
        .where(codes.c.user_id == operator_id, codes.c.consumed_at.is_(None))
        .values(consumed_at=now)
    )


# Wrong guesses an operator may make over all its codes in this window: asking for a new code
# gives that code its own attempts, not a new budget.
GUESS_WINDOW = timedelta(hours=1)
GUESSES_PER_WINDOW_CODES = 3  # times the attempts of one code


@attrs.frozen
class Verification:
    """What a verification did: the operator and whether it was verified just now, or the
    wrong guess (already counted, and committed with it) for the caller to answer."""

    operator: Operator | None
    verified_now: bool
    wrong: WrongCode | None = None


def verify_email(
    conn: sa.Connection, operator_id: str, code: str, *, now: datetime, max_attempts: int
) -> Verification:
    """Check `code` against the operator's live code and mark the email verified. Each guess
    takes one of the code's attempts first, atomically (so parallel guesses cannot pass the
    limit), and of the operator's budget over GUESS_WINDOW; a wrong guess is returned, not
    raised, so that its attempt is committed."""
    operator = get_operator(conn, operator_id)
    if operator.email_verified:
        return Verification(operator, verified_now=False)
    codes = t.user_email_verification_codes
    row = conn.execute(
        sa.select(codes.c.id, codes.c.code_hash, codes.c.attempts, codes.c.expires_at)
        .where(codes.c.user_id == operator_id, codes.c.consumed_at.is_(None))
        .order_by(codes.c.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        raise CodeRefused("no verification code is pending: ask for one")
    if row.expires_at <= now:
        raise CodeRefused("the verification code expired: ask for another")
    guessed = conn.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(codes.c.attempts), 0)).where(
            codes.c.user_id == operator_id, codes.c.created_at > now - GUESS_WINDOW
        )
    )
    if int(guessed or 0) >= max_attempts * GUESSES_PER_WINDOW_CODES:
        raise AttemptsExceeded()
    taken = conn.execute(
        codes.update()
        .where(codes.c.id == row.id, codes.c.attempts < max_attempts)
        .values(attempts=codes.c.attempts + 1)
    )
    if taken.rowcount == 0:
        raise AttemptsExceeded()
    if not hmac.compare_digest(hash_code(code), row.code_hash):
        left = max_attempts - row.attempts - 1
        return Verification(None, verified_now=False, wrong=WrongCode(attempts_left=left))
    conn.execute(codes.update().where(codes.c.id == row.id).values(consumed_at=now))
    conn.execute(t.users.update().where(t.users.c.id == operator_id).values(email_verified_at=now))
    return Verification(get_operator(conn, operator_id), verified_now=True)


class WrongCode(CodeRefused):
    """A wrong guess; its attempt is counted already."""

    def __init__(self, *, attempts_left: int) -> None:
        super().__init__(f"wrong verification code; {max(attempts_left, 0)} attempt(s) left")


def record_interest(conn: sa.Connection, *, email: str, note: str | None, now: datetime) -> None:
    """Put `email` on the waitlist; asking again changes nothing (and answers the same), also
    when two requests race."""
    conn.execute(
        _INSERT_INTEREST[dialect.name(conn)],
        {"id": new_id(), "email": email, "note": note, "created_at": now},
    )


_INSERT_USER = dialect.per_dialect(
    lambda insert: insert(t.users).on_conflict_do_nothing(index_elements=[t.users.c.email])
)
_INSERT_INTEREST = dialect.per_dialect(
    lambda insert: insert(t.beta_interest_signups).on_conflict_do_nothing(
        index_elements=[t.beta_interest_signups.c.email]
    )
)


def set_active_agent(conn: sa.Connection, operator_id: str, agent_id: str) -> None:
    conn.execute(
        t.users.update().where(t.users.c.id == operator_id).values(active_agent_id=agent_id)
    )
