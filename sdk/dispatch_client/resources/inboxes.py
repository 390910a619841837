"""The inboxes resource: create, list and get inboxes; their keys are `inboxes.keys`."""

from __future__ import annotations

from functools import cached_property
from typing import Unpack

from dispatch_client._constants import DEFAULT_LIMIT
from dispatch_client._core import (
    Call,
    Credentials,
    PageData,
    Request,
    body,
    decoded,
    inbox_path,
    page_params,
    send,
    send_for_inbox,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.autopay._flow import Autopay, create_paying, create_paying_async
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.resources.inbox_keys import AsyncInboxKeys, InboxKeys
from dispatch_client.types.inbox import Inbox


def _create(
    credentials: Credentials,
    *,
    local_part: str | None,
    display_name: str | None,
    domain: str | None,
) -> Call[Inbox]:
    request = Request(
        method="POST",
        path="/v1/inboxes",
        json=body(local_part=local_part, display_name=display_name, domain=domain),
        idempotent=True,  # the server answers a retry with the first answer
    )
    return decoded((yield from send(credentials, request)), Inbox)


def _list(credentials: Credentials, *, limit: int, cursor: str | None) -> Call[PageData[Inbox]]:
    request = Request(method="GET", path="/v1/inboxes", params=page_params(limit, cursor))
    return decoded((yield from send(credentials, request)), PageData[Inbox])


def _get(credentials: Credentials, inbox_id: str) -> Call[Inbox]:
    # The server also lets an account key read an inbox; then no inbox key is minted.
    request = Request(method="GET", path=inbox_path(inbox_id))
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Inbox)


class Inboxes(SyncResource):
    """The workspace's inboxes: `d.inboxes`."""

    @cached_property
    def keys(self) -> InboxKeys:
        """The inboxes' API keys: `d.inboxes.keys.create(inbox_id)`."""
        return InboxKeys(self._client)

    def create(
        self,
        *,
        local_part: str | None = None,
        display_name: str | None = None,
        domain: str | None = None,
        autopay: Autopay | None = None,
        **options: Unpack[RequestOptions],
    ) -> Inbox:
        """Create an inbox in the workspace. Needs an account key.

        Args:
            local_part: The part of the address before the @; random if None.
            display_name: A name shown with the address; none if None.
            domain: A verified custom domain of the workspace (see `domains`) to create
                the address at; None: the service's inbox domain.
            autopay: When the workspace needs the multi-inbox upgrade (402), pay for it
                from this wallet, within its `max_amount`, then create the inbox (the
                `autopay` extra; see `dispatch_client.autopay.Autopay`). A payment made
                before, by a crashed or timed-out attempt, is found and confirmed, not made
                again.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The new inbox; `inbox.address` receives mail at once.

        Raises:
            ConflictError: `local_part` is already an address (code "address_taken"), or
                `domain` is not verified yet (code "domain_not_verified").
            InvalidArgumentError: `domain` is no domain of the workspace.
            PaymentRequiredError: the workspace's plan allows no more inboxes (and no
                `autopay` was given).
            AutopayError: autopay could not pay or confirm the upgrade.
        """

        def create() -> Inbox:
            call = _create(
                self._credentials, local_part=local_part, display_name=display_name, domain=domain
            )
            return self._run(call, options)

        if autopay is None:
            return create()
        return create_paying(create, self._client.billing, autopay)

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[Inbox]:
        """The workspace's inboxes, oldest first. Needs an account key.

        Args:
            limit: Inboxes per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: from the start.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every inbox, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
        """
        return self._page(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor), cursor, options
        )

    def get(self, inbox_id: str, **options: Unpack[RequestOptions]) -> Inbox:
        """One inbox.

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The inbox.

        Raises:
            NotFoundError: no such inbox in this workspace (or for this key).
        """
        return self._run(_get(self._credentials, inbox_id), options)


class AsyncInboxes(AsyncResource):
    """The workspace's inboxes: `d.inboxes`."""

    @cached_property
    def keys(self) -> AsyncInboxKeys:
        """The inboxes' API keys: `d.inboxes.keys.create(inbox_id)`."""
        return AsyncInboxKeys(self._client)

    async def create(
        self,
        *,
        local_part: str | None = None,
        display_name: str | None = None,
        domain: str | None = None,
        autopay: Autopay | None = None,
        **options: Unpack[RequestOptions],
    ) -> Inbox:
        """Create an inbox in the workspace. Needs an account key.

        Args:
            local_part: The part of the address before the @; random if None.
            display_name: A name shown with the address; none if None.
            domain: A verified custom domain of the workspace (see `domains`) to create
                the address at; None: the service's inbox domain.
            autopay: When the workspace needs the multi-inbox upgrade (402), pay for it
                from this wallet, within its `max_amount`, then create the inbox (the
                `autopay` extra; see `dispatch_client.autopay.Autopay`). A payment made
                before, by a crashed or timed-out attempt, is found and confirmed, not made
                again.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The new inbox; `inbox.address` receives mail at once.

        Raises:
            ConflictError: `local_part` is already an address (code "address_taken"), or
                `domain` is not verified yet (code "domain_not_verified").
            InvalidArgumentError: `domain` is no domain of the workspace.
            PaymentRequiredError: the workspace's plan allows no more inboxes (and no
                `autopay` was given).
            AutopayError: autopay could not pay or confirm the upgrade.
        """

        async def create() -> Inbox:
            call = _create(
                self._credentials, local_part=local_part, display_name=display_name, domain=domain
            )
            return await self._run(call, options)

        if autopay is None:
            return await create()
        return await create_paying_async(create, self._client.billing, autopay)

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[Inbox]:
        """The workspace's inboxes, oldest first. Needs an account key.

        Args:
            limit: Inboxes per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: from the start.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every inbox, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
        """
        return self._paginator(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor), cursor, options
        )

    async def get(self, inbox_id: str, **options: Unpack[RequestOptions]) -> Inbox:
        """One inbox.

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The inbox.

        Raises:
            NotFoundError: no such inbox in this workspace (or for this key).
        """
        return await self._run(_get(self._credentials, inbox_id), options)
