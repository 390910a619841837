"""The agent resource: `agent.signup()`, which creates a workspace and needs no key."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._core import Call, Credentials, Request, body, checked, decoded, http
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.types.signup import Signup


def _signup(credentials: Credentials, *, name: str | None, local_part: str | None) -> Call[Signup]:
    request = Request(
        method="POST", path="/v1/agent/signup", json=body(name=name, local_part=local_part)
    )
    result = decoded(checked((yield from http(request))), Signup)
    # From now on the client acts for the new workspace, whatever key it had before.
    credentials.remember(result.inbox.id, result.inbox_key)
    credentials.api_key = result.account_key  # cleaned by Credentials' converter
    return result


class AgentResource(SyncResource):
    """Signing up: `d.agent.signup()`."""

    def signup(
        self,
        *,
        name: str | None = None,
        local_part: str | None = None,
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
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The workspace, agent and inbox created, with the account key and inbox key.

        Raises:
            ConflictError: `local_part` is already an address.
            BadRequestError: `name` or `local_part` is not acceptable (see `.param`).
            RateLimitError: too many signups from this address (`rate_limited`), once
                retries after its `retry_after` ran out.
        """
        return self._run(_signup(self._credentials, name=name, local_part=local_part), options)


class AsyncAgentResource(AsyncResource):
    """Signing up: `await d.agent.signup()`."""

    async def signup(
        self,
        *,
        name: str | None = None,
        local_part: str | None = None,
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
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The workspace, agent and inbox created, with the account key and inbox key.

        Raises:
            ConflictError: `local_part` is already an address.
            BadRequestError: `name` or `local_part` is not acceptable (see `.param`).
            RateLimitError: too many signups from this address (`rate_limited`), once
                retries after its `retry_after` ran out.
        """
        return await self._run(
            _signup(self._credentials, name=name, local_part=local_part), options
        )
