"""Claims: an agent's key mints a claim token (`POST /v1/agent/claim-token`); a signed-in
operator claims the agent with it, or with a raw key (`POST /v1/agent/claim`), and lists and
switches between the agents claimed (`/v1/operator/agents`). The rules are in
dispatch_server.domain.claims."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from dispatch_server.auth import wallets
from dispatch_server.auth.principal import Scope
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import InvalidInput
from dispatch_server.domain import claims
from dispatch_server.http.endpoints import Call, Endpoint
from dispatch_server.http.shapes import field, project
from dispatch_server.ratelimit.policy import Policy


@attrs.frozen(kw_only=True)
class ClaimTokenRequest:
    inbox_id: str | None = field(
        default=None,
        maxLength=36,
        description="the inbox the claim is for; an inbox key: its own; an account key: "
        "default the agent's first inbox",
    )
    wallet_chain: str | None = field(
        default=None, description="`evm` or `solana`: the claim will need this wallet's signature"
    )
    wallet_address: str | None = field(default=None, maxLength=100)


@attrs.frozen(kw_only=True)
class WalletBinding:
    chain: str = field(description="`evm` or `solana`")
    address: str = field(description="EVM in lower case; Solana base58")


@attrs.frozen(kw_only=True)
class ClaimToken:
    """A claim token; `claim_token` is shown only here."""

    id: str
    claim_token: str = field(description="single-use; give it with claim_email")
    claim_email: str = field(description="the inbox's address, which the claim gives with it")
    agent_id: str
    inbox_id: str
    expires_at: datetime
    wallet: WalletBinding | None = field(description="the wallet whose signature the claim needs")
    wallet_message: str | None = field(
        description="for a wallet-bound token: the exact text the wallet signs "
        "(EVM personal_sign, Solana signMessage)"
    )


def _wallet(body: ClaimTokenRequest) -> claims.WalletBinding | None:
    if body.wallet_chain is None and body.wallet_address is None:
        return None
    if body.wallet_chain is None:
        raise InvalidInput("wallet_chain is required with wallet_address", param="wallet_chain")
    if body.wallet_address is None:
        raise InvalidInput("wallet_address is required with wallet_chain", param="wallet_address")
    chain = body.wallet_chain
    address = wallets.normalize_address(chain, body.wallet_address)
    if not wallets.available():
        raise wallets.WalletUnsupported("wallet claims need the server's wallet extra")
    return claims.WalletBinding(chain="evm" if chain == "evm" else "solana", address=address)


async def claim_token(call: Call[ClaimTokenRequest]) -> ClaimToken:
    wallet = _wallet(call.body)
    ttl = timedelta(seconds=call.services.settings.operators.claim_token_ttl_seconds)
    minted = await call.services.db.run_write(
        claims.mint_token,
        call.principal,
        inbox_id=call.body.inbox_id,
        wallet=wallet,
        now=utcnow(),
        ttl=ttl,
    )
    return ClaimToken(
        id=minted.id,
        claim_token=minted.token,
        claim_email=minted.inbox_address,
        agent_id=minted.agent_id,
        inbox_id=minted.inbox_id,
        expires_at=minted.expires_at,
        wallet=WalletBinding(chain=wallet.chain, address=wallet.address) if wallet else None,
        wallet_message=minted.wallet_message,
    )


@attrs.frozen(kw_only=True)
class ClaimRequest:
    claim_email: str | None = field(
        default=None, maxLength=254, description="the address of the token's inbox"
    )
    claim_token: str | None = field(default=None, maxLength=claims.MAX_TOKEN_CHARS)
    api_key: str | None = field(
        default=None,
        maxLength=claims.MAX_TOKEN_CHARS,
        description="instead of a token: an account or inbox key of the agent",
    )
    wallet_signature: str | None = field(
        default=None,
        maxLength=wallets.MAX_SIGNATURE_CHARS,
        description="for a wallet-bound token: the wallet's signature of its wallet_message",
    )


@attrs.frozen(kw_only=True)
class Claim:
    """The agent claimed, with fresh keys owned by the operator (shown only here). The
    agent's own keys keep working; revoke them with these if the runtime must stop."""

    agent_id: str
    agent_name: str
    workspace_id: str
    inbox_id: str
    inbox_address: str
    method: str = field(description="`token`, `api_key` or `wallet`")
    wallet: WalletBinding | None
    claimed_at: datetime
    account_key: str
    inbox_key: str


async def claim(call: Call[ClaimRequest]) -> Claim:
    body = call.body
    request = claims.ClaimRequest(
        claim_email=body.claim_email,
        claim_token=body.claim_token,
        api_key=body.api_key,
        wallet_signature=body.wallet_signature,
    )
    claimed = await call.services.db.run_write(
        claims.claim, call.operator.operator_id, request, now=utcnow()
    )
    wallet = claimed.wallet
    return project(
        Claim,
        claimed,
        wallet=WalletBinding(chain=wallet.chain, address=wallet.address) if wallet else None,
    )


@attrs.frozen(kw_only=True)
class ClaimedAgent:
    agent_id: str
    agent_name: str
    workspace_id: str
    inbox_addresses: tuple[str, ...]
    method: str
    claimed_at: datetime
    active: bool = field(description="the agent the operator acts for now")

    @classmethod
    def of(cls, agent: claims.ClaimedAgent) -> ClaimedAgent:
        return project(cls, agent)


@attrs.frozen(kw_only=True)
class ClaimedAgentList:
    data: tuple[ClaimedAgent, ...]


async def list_agents(call: Call[None]) -> ClaimedAgentList:
    found = await call.services.db.run_read(claims.list_claimed, call.operator.operator_id)
    return ClaimedAgentList(data=tuple(ClaimedAgent.of(agent) for agent in found))


@attrs.frozen(kw_only=True)
class SwitchRequest:
    agent_id: str = field(maxLength=36)


async def switch_agent(call: Call[SwitchRequest]) -> ClaimedAgent:
    switched = await call.services.db.run_write(
        claims.switch_active, call.operator.operator_id, call.body.agent_id
    )
    return ClaimedAgent.of(switched)


ENDPOINTS = [
    Endpoint(
        method="POST",
        path="/v1/agent/claim-token",
        rate_limit=Policy.CLAIM,
        handler=claim_token,
        summary="Mint a short-lived, single-use claim token for this agent and an inbox",
        scope=Scope.ANY_KEY,
        body=ClaimTokenRequest,
        response=ClaimToken,
        status=201,
    ),
    Endpoint(
        method="POST",
        path="/v1/agent/claim",
        rate_limit=Policy.CLAIM,
        handler=claim,
        summary="Claim an agent for the signed-in operator: fresh keys for it",
        description="With claim_email and claim_token (plus wallet_signature for a "
        "wallet-bound token), or with api_key.",
        scope=None,
        operator=True,
        body=ClaimRequest,
        response=Claim,
        status=201,
    ),
    Endpoint(
        method="GET",
        path="/v1/operator/agents",
        handler=list_agents,
        summary="The agents the operator claimed",
        scope=None,
        operator=True,
        response=ClaimedAgentList,
    ),
    Endpoint(
        method="POST",
        path="/v1/operator/active-agent",
        handler=switch_agent,
        summary="Switch the agent the operator acts for",
        scope=None,
        operator=True,
        body=SwitchRequest,
        response=ClaimedAgent,
    ),
]
