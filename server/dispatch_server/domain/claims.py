"""Claims: how an agent's runtime (holding API keys) comes to belong to an operator account.

An inbox or account key mints a claim token: random, stored as a hash, bound to the key's
agent and one inbox, short-lived, used once, and optionally bound to a wallet whose
signature over the token's message the claim then needs (an x402 claim). A signed-in
operator claims with the token and the inbox's address (`claim_email`), or with a raw API key
of the agent. A claim records `user_agent_claims` (an agent is claimed once) and mints a
fresh account key and inbox key owned by the operator.

The agent's own keys keep working after a claim: the runtime that holds them is usually
still running, and cutting it off is the operator's decision (revoke them with the fresh
account key). Every refusal is raised before anything is written, or rolls the whole claim
back: a refused claim consumes no token and claims nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal

import attrs
import sqlalchemy as sa

from dispatch_server.auth import policy, wallets
from dispatch_server.auth.api_keys import KeyRefused, authenticate
from dispatch_server.auth.operators import normalize_email
from dispatch_server.auth.principal import Principal
from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput, NotFound
from dispatch_server.core.ids import is_id, new_id
from dispatch_server.db import dialect
from dispatch_server.db import tables as t
from dispatch_server.domain.inbox_keys import insert_key
from dispatch_server.domain.operators import get_operator, set_active_agent

TOKEN_PREFIX = "dct_"
MAX_TOKEN_CHARS = 200
ClaimMethod = Literal["token", "api_key", "wallet"]


class TokenInvalid(DomainError):
    code = ErrorCode.CLAIM_TOKEN_INVALID

    def __init__(self) -> None:
        super().__init__("claim_token is not a claim token of this server", param="claim_token")


class TokenExpired(DomainError):
    code = ErrorCode.CLAIM_TOKEN_EXPIRED

    def __init__(self) -> None:
        super().__init__("the claim token expired: mint another", param="claim_token")


class TokenUsed(DomainError):
    code = ErrorCode.CLAIM_TOKEN_USED

    def __init__(self) -> None:
        super().__init__("the claim token was already used", param="claim_token")


class EmailMismatch(DomainError):
    code = ErrorCode.CLAIM_EMAIL_MISMATCH

    def __init__(self) -> None:
        super().__init__(
            "claim_email is not the address of the inbox this token was minted for",
            param="claim_email",
        )


class KeyInvalid(DomainError):
    code = ErrorCode.CLAIM_KEY_INVALID

    def __init__(self) -> None:
        super().__init__("api_key is not a valid API key of an agent", param="api_key")


class AlreadyClaimed(DomainError):
    code = ErrorCode.AGENT_ALREADY_CLAIMED

    def __init__(self) -> None:
        super().__init__("this agent has been claimed already")


@attrs.frozen(kw_only=True)
class WalletBinding:
    chain: wallets.Chain
    address: str


@attrs.frozen(kw_only=True)
class MintedClaimToken:
    id: str
    token: str = attrs.field(repr=False)  # shown once
    agent_id: str
    inbox_id: str
    inbox_address: str
    expires_at: datetime
    wallet: WalletBinding | None
    wallet_message: str | None  # what the wallet signs, for a wallet-bound token


@attrs.frozen(kw_only=True)
class ClaimRequest:
    """What a claim presents: the token and the inbox address, or a raw key."""

    claim_email: str | None = None
    claim_token: str | None = attrs.field(default=None, repr=False)
    api_key: str | None = attrs.field(default=None, repr=False)
    wallet_signature: str | None = None


@attrs.frozen(kw_only=True)
class Claim:
    agent_id: str
    agent_name: str
    workspace_id: str
    inbox_id: str
    inbox_address: str
    method: ClaimMethod
    wallet: WalletBinding | None
    claimed_at: datetime
    account_key: str = attrs.field(repr=False)
    inbox_key: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class ClaimedAgent:
    agent_id: str
    agent_name: str
    workspace_id: str
    inbox_addresses: tuple[str, ...]
    method: ClaimMethod
    claimed_at: datetime
    active: bool


def hash_token(token: str) -> str:
    # 256 random bits: a fast hash is enough (nothing to brute-force).
    return hashlib.sha256(token.encode()).hexdigest()


def _inbox_of(
    conn: sa.Connection, principal: Principal, inbox_id: str | None
) -> tuple[str, str, str]:
    """(inbox id, its address, its agent) of the claim: the key's inbox, else the one named,
    else the agent's first. Outside the key's reach: 404."""
    wanted = principal.inbox_id if principal.kind == "inbox" else inbox_id
    if principal.kind == "inbox" and inbox_id is not None and inbox_id != principal.inbox_id:
        raise NotFound("inbox")
    query = sa.select(t.inboxes.c.id, t.inboxes.c.address, t.inboxes.c.agent_id).where(
        t.inboxes.c.workspace_id == principal.workspace_id
    )
    if wanted is not None:
        if not is_id(wanted):
            raise NotFound("inbox")
        query = query.where(t.inboxes.c.id == wanted)
    else:
        query = query.where(t.inboxes.c.agent_id == principal.agent_id).order_by(
            t.inboxes.c.created_at, t.inboxes.c.id
        )
    row = conn.execute(query.limit(1)).first()
    if row is None:
        raise NotFound("inbox")
    return row.id, row.address, row.agent_id


def mint_token(
    conn: sa.Connection,
    principal: Principal,
    *,
    inbox_id: str | None,
    wallet: WalletBinding | None,
    now: datetime,
    ttl: timedelta,
) -> MintedClaimToken:
    """A claim token for the key's agent and an inbox (see `_inbox_of`)."""
    policy.check_may_hand_over(principal)
    found_id, address, agent_id = _inbox_of(conn, principal, inbox_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = new_id()
    expires_at = (now + ttl).replace(microsecond=0)
    conn.execute(
        t.agent_claim_tokens.insert().values(
            id=token_id,
            token_hash=hash_token(token),
            workspace_id=principal.workspace_id,
            agent_id=agent_id,
            inbox_id=found_id,
            wallet_chain=wallet.chain if wallet else None,
            wallet_address=wallet.address if wallet else None,
            expires_at=expires_at,
            consumed_at=None,
            created_by_key_id=principal.key_id,
            created_at=now,
        )
    )
    message = None
    if wallet is not None:
        message = wallets.claim_message(
            token_id=token_id,
            agent_id=agent_id,
            inbox_address=address,
            wallet_address=wallet.address,
            expires_at=expires_at,
        )
    return MintedClaimToken(
        id=token_id,
        token=token,
        agent_id=agent_id,
        inbox_id=found_id,
        inbox_address=address,
        expires_at=expires_at,
        wallet=wallet,
        wallet_message=message,
    )


def _check_request(request: ClaimRequest) -> None:
    if request.api_key is not None:
        if request.claim_token is not None or request.claim_email is not None:
            raise InvalidInput(
                "give claim_email and claim_token, or api_key, not both", param="api_key"
            )
        return
    if request.claim_token is None:
        raise InvalidInput("give claim_email and claim_token, or api_key", param="claim_token")
    if request.claim_email is None:
        raise InvalidInput("claim_email is required with claim_token", param="claim_email")


_INSERT_CLAIM = dialect.per_dialect(
    lambda insert: insert(t.user_agent_claims).on_conflict_do_nothing(
        index_elements=[t.user_agent_claims.c.agent_id]
    )
)


def claim(conn: sa.Connection, operator_id: str, request: ClaimRequest, *, now: datetime) -> Claim:
    """Claim the agent of the token or key for the operator (see the module's docstring)."""
    _check_request(request)
    get_operator(conn, operator_id)  # a token of an account deleted since: 404, no claim
    wallet: WalletBinding | None = None
    method: ClaimMethod
    if request.api_key is not None:
        if request.wallet_signature is not None:
            raise InvalidInput(
                "wallet_signature goes with a claim token bound to a wallet",
                param="wallet_signature",
            )
        workspace_id, agent_id, inbox_id, address = _by_key(conn, request.api_key)
        method = "api_key"
    else:
        assert request.claim_token is not None and request.claim_email is not None
        token_id, workspace_id, agent_id, inbox_id, address, wallet = _by_token(
            conn, request, now=now
        )
        method = "wallet" if wallet else "token"
    claimed = conn.scalar(
        sa.select(t.user_agent_claims.c.id).where(t.user_agent_claims.c.agent_id == agent_id)
    )
    if claimed is not None:
        raise AlreadyClaimed()
    if method != "api_key":
        tokens = t.agent_claim_tokens
        consumed = conn.execute(
            tokens.update()
            .where(tokens.c.id == token_id, tokens.c.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        if consumed.rowcount != 1:  # a concurrent claim used it first
            raise TokenUsed()
    # The unique agent_id decides between claims racing for one agent (a key claim takes no
    # token to race on).
    inserted = conn.execute(
        _INSERT_CLAIM[dialect.name(conn)],
        {
            "id": new_id(),
            "user_id": operator_id,
            "agent_id": agent_id,
            "workspace_id": workspace_id,
            "method": method,
            "wallet_chain": wallet.chain if wallet else None,
            "wallet_address": wallet.address if wallet else None,
            "claimed_at": now,
        },
    )
    if inserted.rowcount == 0:
        raise AlreadyClaimed()
    set_active_agent(conn, operator_id, agent_id)
    account_key, _ = insert_key(
        conn,
        workspace_id=workspace_id,
        agent_id=agent_id,
        kind="account",
        inbox_id=None,
        label="operator claim",
        user_id=operator_id,
    )
    inbox_key, _ = insert_key(
        conn,
        workspace_id=workspace_id,
        agent_id=agent_id,
        kind="inbox",
        inbox_id=inbox_id,
        label="operator claim",
        user_id=operator_id,
    )
    name = conn.scalar(sa.select(t.agents.c.name).where(t.agents.c.id == agent_id))
    return Claim(
        agent_id=agent_id,
        agent_name=name or "",
        workspace_id=workspace_id,
        inbox_id=inbox_id,
        inbox_address=address,
        method=method,
        wallet=wallet,
        claimed_at=now,
        account_key=account_key,
        inbox_key=inbox_key,
    )


def _by_key(conn: sa.Connection, raw_key: str) -> tuple[str, str, str, str]:
    if len(raw_key) > MAX_TOKEN_CHARS:
        raise KeyInvalid()
    try:
        principal = authenticate(conn, raw_key)
    except KeyRefused:
        raise KeyInvalid() from None
    policy.check_may_hand_over(principal)
    inbox_id, address, _agent = _inbox_of(conn, principal, None)
    return principal.workspace_id, principal.agent_id, inbox_id, address


def _by_token(
    conn: sa.Connection, request: ClaimRequest, *, now: datetime
) -> tuple[str, str, str, str, str, WalletBinding | None]:
    token = request.claim_token or ""
    if len(token) > MAX_TOKEN_CHARS or not token.startswith(TOKEN_PREFIX):
        raise TokenInvalid()
    tokens = t.agent_claim_tokens
    row = conn.execute(
        sa.select(
            tokens.c.id,
            tokens.c.workspace_id,
            tokens.c.agent_id,
            tokens.c.inbox_id,
            tokens.c.wallet_chain,
            tokens.c.wallet_address,
            tokens.c.expires_at,
            tokens.c.consumed_at,
            t.inboxes.c.address,
            t.api_keys.c.revoked_at.label("minted_by_revoked_at"),
        )
        .join(t.inboxes, t.inboxes.c.id == tokens.c.inbox_id)
        .outerjoin(t.api_keys, t.api_keys.c.id == tokens.c.created_by_key_id)
        .where(tokens.c.token_hash == hash_token(token))
    ).first()
    # A token lives no longer than the key that minted it: revoking a leaked key revokes the
    # claim tokens it made too.
    if row is None or row.minted_by_revoked_at is not None:
        raise TokenInvalid()
    if row.consumed_at is not None:
        raise TokenUsed()
    if row.expires_at <= now:
        raise TokenExpired()
    if normalize_email(request.claim_email or "", param="claim_email") != row.address:
        raise EmailMismatch()
    wallet = None
    if row.wallet_chain is not None:
        wallet = WalletBinding(chain=row.wallet_chain, address=row.wallet_address)
        if request.wallet_signature is None:
            raise wallets.SignatureRefused(
                "this claim token is bound to a wallet: give wallet_signature over its "
                "wallet_message"
            )
        message = wallets.claim_message(
            token_id=row.id,
            agent_id=row.agent_id,
            inbox_address=row.address,
            wallet_address=wallet.address,
            expires_at=row.expires_at,
        )
        wallets.verify(wallet.chain, wallet.address, message, request.wallet_signature)
    elif request.wallet_signature is not None:
        raise InvalidInput(
            "this claim token is bound to no wallet: leave wallet_signature out",
            param="wallet_signature",
        )
    return row.id, row.workspace_id, row.agent_id, row.inbox_id, row.address, wallet


def list_claimed(conn: sa.Connection, operator_id: str) -> list[ClaimedAgent]:
    """The operator's agents, the first claimed first."""
    active = conn.scalar(sa.select(t.users.c.active_agent_id).where(t.users.c.id == operator_id))
    claims = t.user_agent_claims
    rows = conn.execute(
        sa.select(
            claims.c.agent_id,
            t.agents.c.name,
            claims.c.workspace_id,
            claims.c.method,
            claims.c.claimed_at,
        )
        .join(t.agents, t.agents.c.id == claims.c.agent_id)
        .where(claims.c.user_id == operator_id)
        .order_by(claims.c.claimed_at, claims.c.id)
    ).all()
    addresses: dict[str, list[str]] = {}
    if rows:
        for agent_id, address in conn.execute(
            sa.select(t.inboxes.c.agent_id, t.inboxes.c.address)
            .where(t.inboxes.c.agent_id.in_([row.agent_id for row in rows]))
            .order_by(t.inboxes.c.created_at, t.inboxes.c.id)
        ):
            addresses.setdefault(agent_id, []).append(address)
    return [
        ClaimedAgent(
            agent_id=row.agent_id,
            agent_name=row.name,
            workspace_id=row.workspace_id,
            inbox_addresses=tuple(addresses.get(row.agent_id, ())),
            method=row.method,
            claimed_at=row.claimed_at,
            active=row.agent_id == active,
        )
        for row in rows
    ]


def switch_active(conn: sa.Connection, operator_id: str, agent_id: str) -> ClaimedAgent:
    """Make one of the operator's agents the active one; another's agent is a 404."""
    if not is_id(agent_id):
        raise NotFound("agent")
    owned = conn.scalar(
        sa.select(t.user_agent_claims.c.id).where(
            t.user_agent_claims.c.user_id == operator_id,
            t.user_agent_claims.c.agent_id == agent_id,
        )
    )
    if owned is None:
        raise NotFound("agent")
    set_active_agent(conn, operator_id, agent_id)
    return next(a for a in list_claimed(conn, operator_id) if a.agent_id == agent_id)


@attrs.frozen(kw_only=True)
class Owner:
    user_id: str
    email: str


def owner_of_agent(conn: sa.Connection, agent_id: str) -> Owner | None:
    """The operator who claimed the agent, if one has."""
    row = conn.execute(
        sa.select(t.users.c.id, t.users.c.email)
        .select_from(
            t.user_agent_claims.join(t.users, t.users.c.id == t.user_agent_claims.c.user_id)
        )
        .where(t.user_agent_claims.c.agent_id == agent_id)
    ).first()
    return None if row is None else Owner(user_id=row.id, email=row.email)
