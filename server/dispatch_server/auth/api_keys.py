"""API keys: minting, and finding the principal a presented key belongs to.

Keys are "<id>.<secret>"; only a hash of the secret is kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Final

import attrs
import sqlalchemy as sa

from dispatch_server.auth.principal import Principal
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import Forbidden, Unauthorized
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.db import tables as t

# Every failed authentication answers with this, whatever went wrong, so that a caller
# cannot tell a key id that exists from one that does not, or a revoked key from a wrong one.
REFUSAL: Final = "a valid API key is required: Authorization: Bearer <key_id>.<secret>"


class KeyRefused(Unauthorized):
    """A 401 for a presented key (or none): always the same answer; `reason` is for the
    server's log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSAL)
        self.reason = reason


@attrs.frozen
class MintedKey:
    id: str
    raw: str = attrs.field(repr=False)  # shown to the caller once
    secret_hash: str = attrs.field(repr=False)


def hash_secret(secret: str) -> str:
    # The secret is 256 bits of randomness, so a fast hash is enough: there is nothing to
    # brute-force, and key checks sit on every request's path.
    return hashlib.sha256(secret.encode()).hexdigest()


def mint_key() -> MintedKey:
    key_id = new_id()
    secret = secrets.token_urlsafe(32)
    return MintedKey(id=key_id, raw=f"{key_id}.{secret}", secret_hash=hash_secret(secret))


def split_key(raw: str) -> tuple[str, str] | None:
    key_id, sep, secret = raw.partition(".")
    if not sep or not secret:
        return None
    if not is_id(key_id):
        return None
    return key_id, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


# Compared against when the key id is unknown, so that both refusals cost the same hash.
_NO_HASH: Final = hash_secret(secrets.token_urlsafe(32))


_FIND_KEY = (
    sa.select(
        t.api_keys.c.id,
        t.api_keys.c.key_kind,
        t.api_keys.c.workspace_id,
        t.api_keys.c.agent_id,
        t.api_keys.c.inbox_id,
        t.api_keys.c.secret_hash,
        t.api_keys.c.revoked_at,
        t.api_keys.c.expires_at,
        t.api_keys.c.permissions,
        t.api_keys.c.allowed_senders,
        t.workspaces.c.status,
    )
    .join(t.workspaces, t.workspaces.c.id == t.api_keys.c.workspace_id)
    .where(t.api_keys.c.id == sa.bindparam("key_id"))
)


def authenticate(conn: sa.Connection, raw_key: str) -> Principal:
    """The principal of a presented key, with its workspace, in one query."""
    parts = split_key(raw_key)
    if parts is None:
        raise KeyRefused("malformed key")
    key_id, secret = parts
    row = conn.execute(_FIND_KEY, {"key_id": key_id}).first()
    matches = secret_matches(secret, _NO_HASH if row is None else row.secret_hash)
    if row is None:
        raise KeyRefused(f"unknown key {key_id}")
    if not matches:
        raise KeyRefused(f"wrong secret for key {key_id}")
    if row.revoked_at is not None:
        raise KeyRefused(f"revoked key {key_id}")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise KeyRefused(f"expired key {key_id}")
    if row.status != "active":
        raise Forbidden(f"workspace is {row.status}")
    return Principal(
        key_id=row.id,
        kind=row.key_kind,
        workspace_id=row.workspace_id,
        agent_id=row.agent_id,
        inbox_id=row.inbox_id,
        permissions=None if row.permissions is None else tuple(row.permissions),
        allowed_senders=None if row.allowed_senders is None else tuple(row.allowed_senders),
        expires_at=row.expires_at,
    )


def require_active(conn: sa.Connection, key_id: str) -> None:
    """Raise KeyRefused if the key was revoked (or expired) since it was authenticated: for
    requests that last (a wait), so that revoking a key ends what it can see at once."""
    if key_id not in active_among(conn, [key_id]):
        raise KeyRefused(f"key {key_id} revoked during the request")


_ACTIVE = sa.select(t.api_keys.c.id).where(
    t.api_keys.c.id.in_(sa.bindparam("ids", expanding=True)),
    t.api_keys.c.revoked_at.is_(None),
    sa.or_(t.api_keys.c.expires_at.is_(None), t.api_keys.c.expires_at > sa.bindparam("now")),
)


def active_among(conn: sa.Connection, key_ids: Iterable[str]) -> set[str]:
    """Which of these keys exist and are neither revoked nor expired."""
    ids, active, now = list(key_ids), set[str](), utcnow()
    for start in range(0, len(ids), 1000):  # within every backend's limit of bound values
        active.update(conn.scalars(_ACTIVE, {"ids": ids[start : start + 1000], "now": now}))
    return active
