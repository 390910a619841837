"""The auth resource: what the client's key is, `d.auth.me()`."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._core import Call, Credentials, Request, decoded, send
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.types.key_info import KeyInfo


def _me(credentials: Credentials) -> Call[KeyInfo]:
    request = Request(method="GET", path="/v1/auth/me")
    return decoded((yield from send(credentials, request)), KeyInfo)


class AuthResource(SyncResource):
    """The presented key: `d.auth.me()`."""

    def me(self, **options: Unpack[RequestOptions]) -> KeyInfo:
        """What the client's key is and may do, as the server sees it; this changes nothing.

        Asks with the key the client was given (or got from `agent.signup()`), never with
        an inbox key it minted or holds.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The key's kind ("account" or "inbox"), id, workspace, agent, inbox and its
            address (for an inbox key), permissions, whether it is restricted, the senders
            whose mail it may read (None: anyone's), and expiry (None: it does not expire).

        Raises:
            AuthenticationError: the key is not valid (unknown, wrong secret, revoked).
            PermissionDeniedError: the key's workspace is suspended.
            DispatchError: the client has no API key.
        """
        return self._run(_me(self._credentials), options)


class AsyncAuthResource(AsyncResource):
    """The presented key: `await d.auth.me()`."""

    async def me(self, **options: Unpack[RequestOptions]) -> KeyInfo:
        """What the client's key is and may do, as the server sees it; this changes nothing.

        Asks with the key the client was given (or got from `agent.signup()`), never with
        an inbox key it minted or holds.

        Args:
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The key's kind ("account" or "inbox"), id, workspace, agent, inbox and its
            address (for an inbox key), permissions, whether it is restricted, the senders
            whose mail it may read (None: anyone's), and expiry (None: it does not expire).

        Raises:
            AuthenticationError: the key is not valid (unknown, wrong secret, revoked).
            PermissionDeniedError: the key's workspace is suspended.
            DispatchError: the client has no API key.
        """
        return await self._run(_me(self._credentials), options)
