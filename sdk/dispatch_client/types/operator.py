"""Operators and claims: what `operator.*` and `agent.claim_token()` return."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen(kw_only=True)
class Operator:
    """An operator account: the human who owns agents."""

    id: str
    email: str
    email_verified: bool
    is_admin: bool
    active_agent_id: str | None
    created_at: datetime


@attrs.frozen(kw_only=True)
class OperatorSession:
    """A signed-in operator: the token (a JWT) and the account."""

    access_token: str = attrs.field(repr=False)
    token_type: str
    expires_at: datetime
    operator: Operator
    verification_sent: bool | None = None


@attrs.frozen(kw_only=True)
class WalletBinding:
    """The wallet a claim token is bound to: its signature is needed to claim."""

    chain: str
    address: str


@attrs.frozen(kw_only=True)
class ClaimToken:
    """What `agent.claim_token()` returns: hand `claim_email` and `claim_token` to the
    operator (the token is single-use and short-lived)."""

    id: str
    claim_token: str = attrs.field(repr=False)
    claim_email: str
    agent_id: str
    inbox_id: str
    expires_at: datetime
    wallet: WalletBinding | None
    wallet_message: str | None


@attrs.frozen(kw_only=True)
class Claim:
    """An agent claimed by the operator, with fresh keys owned by the operator (shown once)."""

    agent_id: str
    agent_name: str
    workspace_id: str
    inbox_id: str
    inbox_address: str
    method: str
    wallet: WalletBinding | None
    claimed_at: datetime
    account_key: str = attrs.field(repr=False)
    inbox_key: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class ClaimedAgent:
    """One of the operator's agents."""

    agent_id: str
    agent_name: str
    workspace_id: str
    inbox_addresses: tuple[str, ...]
    method: str
    claimed_at: datetime
    active: bool
