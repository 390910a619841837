"""API keys: minting, and finding the principal a presented key belongs to.

Keys are "<id>.<secret>"; only a hash of the secret is kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import attrs
import sqlalchemy as sa

from dispatch_server.auth.principal import Principal
from dispatch_server.core.errors import Forbidden, Unauthorized
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.db import tables as t


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


_FIND_KEY = (
    sa.select(
        t.api_keys.c.id,
        t.api_keys.c.key_kind,
        t.api_keys.c.workspace_id,
        t.api_keys.c.agent_id,
        t.api_keys.c.inbox_id,
        t.api_keys.c.secret_hash,
        t.api_keys.c.revoked_at,
        t.workspaces.c.status,
    )
    .join(t.workspaces, t.workspaces.c.id == t.api_keys.c.workspace_id)
    .where(t.api_keys.c.id == sa.bindparam("key_id"))
)


def authenticate(conn: sa.Connection, raw_key: str) -> Principal:
    """The principal of a presented key, with its workspace, in one query."""
    parts = split_key(raw_key)
    if parts is None:
        raise Unauthorized("malformed API key")
    key_id, secret = parts
    row = conn.execute(_FIND_KEY, {"key_id": key_id}).first()
    if row is None or row.revoked_at is not None or not secret_matches(secret, row.secret_hash):
        raise Unauthorized("unknown or revoked API key")
    if row.status != "active":
        raise Forbidden(f"workspace is {row.status}")
    return Principal(
        key_id=row.id,
        kind=row.key_kind,
        workspace_id=row.workspace_id,
        agent_id=row.agent_id,
        inbox_id=row.inbox_id,
    )


def require_active(conn: sa.Connection, key_id: str) -> None:
    """Raise Unauthorized if the key was revoked since it was authenticated: for requests that
    last (a wait), so that revoking a key ends what it can see at once."""
    revoked = conn.execute(
        sa.select(t.api_keys.c.revoked_at).where(t.api_keys.c.id == key_id)
    ).first()
    if revoked is None or revoked.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
