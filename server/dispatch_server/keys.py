"""API key minting and verification. Keys are "<id>.<secret>"; only a hash of the secret is kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import attrs

from dispatch_server.clock import is_id, new_id


@attrs.frozen
class MintedKey:
    id: str
    raw: str  # shown to the caller once
    secret_hash: str


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
