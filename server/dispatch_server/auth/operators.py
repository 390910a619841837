"""Operator authentication: email addresses as accounts take them, Argon2id password hashes,
and the session tokens (JWTs) an operator presents as `Authorization: Bearer <token>`.

Passwords are hashed with Argon2id (argon2-cffi) at the parameters of the settings, by
default RFC 9106's second recommendation: 3 passes, 64 MiB, 4 lanes, a 16-byte salt and a
32-byte tag. A hash records its parameters, so raising them later leaves old hashes valid;
`needs_rehash` says when one should be replaced at the next login.

A login for an unknown email verifies the password against a hash of a random password made
with the same parameters, so both refusals cost one Argon2id verification and answer alike.

Tokens are HS256 JWTs signed with JWT_SECRET_KEY, carrying `sub` (the operator id), `email`,
`email_verified`, `iss`, `aud`, `iat` and `exp`; all are required and checked on use.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import argon2
import attrs
import jwt
from argon2.exceptions import InvalidHashError, VerificationError

from dispatch_server.config import Operators
from dispatch_server.core.errors import InvalidInput, Unauthorized

MAX_EMAIL_CHARS = 254  # RFC 5321's path limit, less the angle brackets
MAX_LOCAL_PART_CHARS = 64
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
ALGORITHM: Final = "HS256"
TOKEN_TYPE: Final = "bearer"

# ASCII only, on purpose: a look-alike (Cyrillic "а"), a fullwidth "＠", a zero-width or a
# right-to-left mark would make two accounts that read the same. Internationalised domains
# are taken in their punycode (xn--) form.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# A per-process key when JWT_SECRET_KEY is unset (never in production, which requires it).
_PROCESS_SECRET: Final = secrets.token_urlsafe(32)


def normalize_email(value: str, *, param: str = "email") -> str:
    """The address in the form accounts are kept under (lower case), or InvalidInput naming
    `param`: one `@`, a dot-atom local part of at most 64 characters, a domain of valid
    labels with a dot, 254 characters in all, printable ASCII only."""
    if len(value) > MAX_EMAIL_CHARS:
        raise InvalidInput(f"{param} is longer than {MAX_EMAIL_CHARS} characters", param=param)
    if not value.isascii():
        raise InvalidInput(
            f"{param} must be ASCII (an internationalised domain in its xn-- form); "
            "look-alike and invisible characters are refused",
            param=param,
        )
    local, at, domain = value.strip().rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    valid = (
        at
        and 0 < len(local) <= MAX_LOCAL_PART_CHARS
        and _LOCAL.fullmatch(local)
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )
    if not valid:
        raise InvalidInput(f"{param} is not an email address (name@example.com)", param=param)
    return f"{local.lower()}@{domain}"


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
            param="password",
        )
    if not password.strip():
        raise InvalidInput("password must not be blank", param="password")
    return password


class Passwords:
    """Argon2id hashing at the configured parameters. CPU- and memory-bound: call it off the
    event loop (asyncio.to_thread)."""

    def __init__(self, settings: Operators) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self._decoy = self._hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches; against the decoy when there is no account, so an
        unknown email costs the same as a wrong password."""
        try:
            return self._hasher.verify(stored_hash or self._decoy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


@attrs.frozen(kw_only=True)
class OperatorToken:
    """What a valid operator token says."""

    operator_id: str
    email: str
    email_verified: bool
    expires_at: datetime


@attrs.frozen(kw_only=True)
class IssuedToken:
    token: str = attrs.field(repr=False)
    expires_at: datetime


def _secret(settings: Operators) -> str:
    return settings.jwt_secret_key or _PROCESS_SECRET


def issue_token(
    settings: Operators, *, operator_id: str, email: str, email_verified: bool, now: datetime
) -> IssuedToken:
    expires_at = now + timedelta(seconds=settings.jwt_ttl_seconds)
    claims: dict[str, Any] = {
        "sub": operator_id,
        "email": email,
        "email_verified": email_verified,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    token = jwt.encode(claims, _secret(settings), algorithm=ALGORITHM)
    return IssuedToken(token=token, expires_at=expires_at.replace(microsecond=0))


class OperatorRefused(Unauthorized):
    """A 401 for a presented operator token: one answer; `reason` is for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "a valid operator token is required: Authorization: Bearer <token> "
            "(from POST /auth/login)"
        )
        self.reason = reason


def read_token(settings: Operators, token: str) -> OperatorToken:
    """The claims of a token this server issued and that has not expired; else
    OperatorRefused."""
    try:
        claims = jwt.decode(
            token,
            _secret(settings),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iat", "iss", "aud", "email", "email_verified"]},
        )
    except jwt.ExpiredSignatureError:
        raise OperatorRefused("expired token") from None
    except jwt.InvalidTokenError as exc:
        raise OperatorRefused(f"invalid token: {exc}") from None
    subject, email, verified = claims["sub"], claims["email"], claims["email_verified"]
    if not isinstance(subject, str) or not isinstance(email, str) or not isinstance(verified, bool):
        raise OperatorRefused("ill-typed claims")
    try:
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (OverflowError, OSError, ValueError):  # past year 9999: only our key could sign it
        raise OperatorRefused("invalid token: exp out of range") from None
    return OperatorToken(
        operator_id=subject, email=email, email_verified=verified, expires_at=expires_at
    )


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token has a JWT's three parts (an API key has two)."""
    return token.count(".") == 2
