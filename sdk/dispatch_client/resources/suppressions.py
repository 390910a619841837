"""The suppressions resource: the recipients the workspace may no longer send to, listed and
lifted. Every call needs an account key."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._constants import DEFAULT_LIMIT
from dispatch_client._core import (
    Call,
    Credentials,
    PageData,
    Request,
    decoded,
    page_params,
    segment,
    send,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types.suppression import Suppression


def _list(
    credentials: Credentials, *, limit: int, cursor: str | None
) -> Call[PageData[Suppression]]:
    request = Request(method="GET", path="/v1/suppressions", params=page_params(limit, cursor))
    return decoded((yield from send(credentials, request)), PageData[Suppression])


def _delete(credentials: Credentials, address: str) -> Call[Suppression]:
    path = f"/v1/suppressions/{segment(address, 'address')}"
    return decoded((yield from send(credentials, Request(method="DELETE", path=path))), Suppression)


class Suppressions(SyncResource):
    """Recipients sends are refused for, after a bounce or a complaint: `d.suppressions`.
    Every call needs an account key."""

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[Suppression]:
        """The workspace's suppressed recipients, newest first.

        Args:
            limit: Suppressions per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every suppression, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._page(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    def delete(self, address: str, **options: Unpack[RequestOptions]) -> Suppression:
        """Lift a suppression: sends to the address are taken again.

        Args:
            address: The suppressed address (any case).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The suppression lifted.

        Raises:
            NotFoundError: the address is not suppressed.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(_delete(self._credentials, address), options)


class AsyncSuppressions(AsyncResource):
    """Recipients sends are refused for, after a bounce or a complaint: `d.suppressions`.
    Every call needs an account key."""

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[Suppression]:
        """The workspace's suppressed recipients, newest first.

        Args:
            limit: Suppressions per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every suppression, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._paginator(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    async def delete(self, address: str, **options: Unpack[RequestOptions]) -> Suppression:
        """Lift a suppression: sends to the address are taken again.

        Args:
            address: The suppressed address (any case).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The suppression lifted.

        Raises:
            NotFoundError: the address is not suppressed.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(_delete(self._credentials, address), options)
