"""The agent resource: `agent.signup()`, which creates a workspace and needs no key, and
`agent.claim_token()`, which lets an operator claim the agent."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._core import (
    Call,
    Credentials,
    Request,
    body,
    checked,
    decoded,
    http,
    send,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.types.operator import ClaimToken
from dispatch_client.types.signup import Signup


def _signup(
    credentials: Credentials,
    *,
    name: str | None,
    local_part: str | None,
    invite_code: str | None,
) -> Call[Signup]:
    request = Request(
        method="POST",
        path="/v1/agent/signup",
        json=body(name=name, local_part=local_part, invite_code=invite_code),
    )
    result = decoded(checked((yield from http(request))), Signup)
    # From now on the client acts for the new workspace, whatever key it had before.
    credentials.remember(result.inbox.id, result.inbox_key)
    credentials.api_key = result.account_key  # cleaned by Credentials' converter
    return result


def _claim_token(
    credentials: Credentials,
    *,
    inbox_id: str | None,
    wallet_chain: str | None,
    wallet_address: str | None,
) -> Call[ClaimToken]:
    request = Request(
        method="POST",
        path="/v1/agent/claim-token",
        json=body(inbox_id=inbox_id, wallet_chain=wallet_chain, wallet_address=wallet_address),
    )
    return decoded((yield from send(credentials, request)), ClaimToken)


class AgentResource(SyncResource):
    """Signing up: `d.agent.signup()`."""

    def signup(
        self,
        *,
        name: str | None = None,
        local_part: str | None = None,
        invite_code: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Signup:
        """Create a workspace with an agent, a default inbox and their keys. Needs no API key.

        Afterwards this client acts for the new workspace: it adopts the new account key
        (replacing any key it had, from `api_key=` or $DISPATCH_API_KEY) and caches the new
        inbox key. Store `account_key` (shown once) and later use
        `Dispatch(api_key=signup.account_key)`.

        Args:
            name: The agent's (and workspace's) name; "agent" if None.
            local_part: The part before the @ of the default inbox's address; random if None.
            invite_code: An invite code, for a server whose agent signup is by invitation
                (DISPATCH_AGENT_SIGNUP=invite).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The workspace, agent and inbox created, with the account key and inbox key.

        Raises:
            ConflictError: `local_part` is already an address.
            BadRequestError: `name` or `local_part` is not acceptable (see `.param`).
            RateLimitError: too many signups from this address (`rate_limited`), once
                retries after its `retry_after` ran out.
            PermissionDeniedError: agent signup is closed here (`signup_closed`), or the
                invite code is refused (`invite_code_invalid`).
        """
        return self._run(
            _signup(self._credentials, name=name, local_part=local_part, invite_code=invite_code),
            options,
        )

    def claim_token(
        self,
        *,
        inbox_id: str | None = None,
        wallet_chain: str | None = None,
        wallet_address: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ClaimToken:
        """Mint a claim token, so an operator can claim this agent.

        Give `claim_email` and `claim_token` to the operator, who claims with
        `operator.claim(claim_email=..., claim_token=...)`. The token is short-lived and
        single-use. With a wallet, the claim also needs the wallet's signature over
        `wallet_message` (EVM personal_sign, or Solana signMessage in base58).

        Args:
            inbox_id: The inbox the claim is for; None: the key's inbox (an inbox key) or the
                agent's first inbox (an account key).
            wallet_chain: "evm" or "solana", to bind the token to a wallet.
            wallet_address: The wallet's address (0x... or base58), with `wallet_chain`.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The token (shown once), the inbox address to claim it with, and its expiry.

        Raises:
            NotFoundError: `inbox_id` is not an inbox this key reaches.
            BadRequestError: a malformed wallet (see `.param`).
        """
        call = _claim_token(
            self._credentials,
            inbox_id=inbox_id,
            wallet_chain=wallet_chain,
            wallet_address=wallet_address,
        )
        return self._run(call, options)


class AsyncAgentResource(AsyncResource):
    """Signing up: `await d.agent.signup()`."""

    async def signup(
        self,
        *,
        name: str | None = None,
        local_part: str | None = None,
        invite_code: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Signup:
        """Create a workspace with an agent, a default inbox and their keys. Needs no API key.

        Afterwards this client acts for the new workspace: it adopts the new account key
        (replacing any key it had, from `api_key=` or $DISPATCH_API_KEY) and caches the new
        inbox key. Store `account_key` (shown once) and later use
        `Dispatch(api_key=signup.account_key)`.

        Args:
            name: The agent's (and workspace's) name; "agent" if None.
            local_part: The part before the @ of the default inbox's address; random if None.
            invite_code: An invite code, for a server whose agent signup is by invitation
                (DISPATCH_AGENT_SIGNUP=invite).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The workspace, agent and inbox created, with the account key and inbox key.

        Raises:
            ConflictError: `local_part` is already an address.
            BadRequestError: `name` or `local_part` is not acceptable (see `.param`).
            RateLimitError: too many signups from this address (`rate_limited`), once
                retries after its `retry_after` ran out.
            PermissionDeniedError: agent signup is closed here (`signup_closed`), or the
                invite code is refused (`invite_code_invalid`).
        """
        return await self._run(
            _signup(self._credentials, name=name, local_part=local_part, invite_code=invite_code),
            options,
        )

    async def claim_token(
        self,
        *,
        inbox_id: str | None = None,
        wallet_chain: str | None = None,
        wallet_address: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ClaimToken:
        """Mint a claim token, so an operator can claim this agent.

        Give `claim_email` and `claim_token` to the operator, who claims with
        `operator.claim(claim_email=..., claim_token=...)`. The token is short-lived and
        single-use. With a wallet, the claim also needs the wallet's signature over
        `wallet_message` (EVM personal_sign, or Solana signMessage in base58).

        Args:
            inbox_id: The inbox the claim is for; None: the key's inbox (an inbox key) or the
                agent's first inbox (an account key).
            wallet_chain: "evm" or "solana", to bind the token to a wallet.
            wallet_address: The wallet's address (0x... or base58), with `wallet_chain`.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The token (shown once), the inbox address to claim it with, and its expiry.

        Raises:
            NotFoundError: `inbox_id` is not an inbox this key reaches.
            BadRequestError: a malformed wallet (see `.param`).
        """
        call = _claim_token(
            self._credentials,
            inbox_id=inbox_id,
            wallet_chain=wallet_chain,
            wallet_address=wallet_address,
        )
        return await self._run(call, options)
