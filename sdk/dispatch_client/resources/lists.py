"""The lists resource: allow and block entries for mail received and sent, for the whole
workspace or one inbox. Adding and deleting need an account key; an inbox key lists the
entries that apply to its inbox."""

from __future__ import annotations

from typing import Literal, Unpack

from dispatch_client._constants import DEFAULT_LIMIT
from dispatch_client._core import (
    Call,
    Credentials,
    PageData,
    Request,
    body,
    decoded,
    page_params,
    segment,
    send,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types.list_entry import ListEntry

PATH = "/v1/lists"
Direction = Literal["receive", "send"]
Action = Literal["allow", "block"]


def _create(
    credentials: Credentials,
    *,
    pattern: str,
    direction: Direction,
    action: Action,
    inbox_id: str | None,
) -> Call[ListEntry]:
    request = Request(
        method="POST",
        path=PATH,
        json=body(pattern=pattern, direction=direction, action=action, inbox_id=inbox_id),
    )
    return decoded((yield from send(credentials, request)), ListEntry)


def _list(
    credentials: Credentials,
    *,
    inbox_id: str | None,
    direction: Direction | None,
    limit: int,
    cursor: str | None,
) -> Call[PageData[ListEntry]]:
    params = page_params(limit, cursor, inbox_id=inbox_id, direction=direction)
    request = Request(method="GET", path=PATH, params=params)
    return decoded((yield from send(credentials, request)), PageData[ListEntry])


def _delete(credentials: Credentials, entry_id: str) -> Call[ListEntry]:
    path = f"{PATH}/{segment(entry_id, 'entry_id')}"
    return decoded((yield from send(credentials, Request(method="DELETE", path=path))), ListEntry)


class Lists(SyncResource):
    """Allow and block lists, per workspace or inbox, for mail received and sent:
    `d.lists`. Adding and deleting need an account key; an inbox key lists the entries
    that apply to its inbox (the workspace's and its own)."""

    def create(
        self,
        pattern: str,
        *,
        direction: Direction,
        action: Action,
        inbox_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListEntry:
        """Add an allow or block entry.

        Args:
            pattern: `a@x.com` (that address), `x.com` (any address at x.com, not at its
                subdomains) or `*.x.com` (any address at a subdomain of x.com).
            direction: "receive" (matched against the sender of incoming mail) or "send"
                (against each recipient of a send).
            action: "allow" or "block". Block wins; once any allow entry applies, every
                address no allow entry matches is refused.
            inbox_id: The inbox it applies to; None: every inbox of the workspace.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The entry, its pattern lowercased and its domain in punycode.

        Raises:
            InvalidArgumentError: a malformed pattern, or `inbox_id` names no inbox of the
                workspace (`param` names the field).
            ConflictError: the scope and direction list this pattern already.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _create(
                self._credentials,
                pattern=pattern,
                direction=direction,
                action=action,
                inbox_id=inbox_id,
            ),
            options,
        )

    def list(
        self,
        *,
        inbox_id: str | None = None,
        direction: Direction | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[ListEntry]:
        """The workspace's entries, newest first.

        With an inbox key: those that apply to its inbox (the workspace's and its own).

        Args:
            inbox_id: Only this inbox's own entries (not the workspace's); an inbox key may
                name its own inbox only.
            direction: Only the entries for "receive" or for "send".
            limit: Entries per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every entry, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: an inbox key named another inbox.
            PermissionDeniedError: a restricted inbox key without the `read` permission.
        """
        return self._page(
            lambda cursor: _list(
                self._credentials,
                inbox_id=inbox_id,
                direction=direction,
                limit=limit,
                cursor=cursor,
            ),
            cursor,
            options,
        )

    def delete(self, entry_id: str, **options: Unpack[RequestOptions]) -> ListEntry:
        """Delete an entry.

        Args:
            entry_id: The entry's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The entry deleted.

        Raises:
            NotFoundError: the workspace has no entry by this id.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(_delete(self._credentials, entry_id), options)


class AsyncLists(AsyncResource):
    """Allow and block lists, per workspace or inbox, for mail received and sent:
    `d.lists`. Adding and deleting need an account key; an inbox key lists the entries
    that apply to its inbox (the workspace's and its own)."""

    async def create(
        self,
        pattern: str,
        *,
        direction: Direction,
        action: Action,
        inbox_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListEntry:
        """Add an allow or block entry.

        Args:
            pattern: `a@x.com` (that address), `x.com` (any address at x.com, not at its
                subdomains) or `*.x.com` (any address at a subdomain of x.com).
            direction: "receive" (matched against the sender of incoming mail) or "send"
                (against each recipient of a send).
            action: "allow" or "block". Block wins; once any allow entry applies, every
                address no allow entry matches is refused.
            inbox_id: The inbox it applies to; None: every inbox of the workspace.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The entry, its pattern lowercased and its domain in punycode.

        Raises:
            InvalidArgumentError: a malformed pattern, or `inbox_id` names no inbox of the
                workspace (`param` names the field).
            ConflictError: the scope and direction list this pattern already.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _create(
                self._credentials,
                pattern=pattern,
                direction=direction,
                action=action,
                inbox_id=inbox_id,
            ),
            options,
        )

    def list(
        self,
        *,
        inbox_id: str | None = None,
        direction: Direction | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[ListEntry]:
        """The workspace's entries, newest first.

        With an inbox key: those that apply to its inbox (the workspace's and its own).

        Args:
            inbox_id: Only this inbox's own entries (not the workspace's); an inbox key may
                name its own inbox only.
            direction: Only the entries for "receive" or for "send".
            limit: Entries per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every entry, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: an inbox key named another inbox.
            PermissionDeniedError: a restricted inbox key without the `read` permission.
        """
        return self._paginator(
            lambda cursor: _list(
                self._credentials,
                inbox_id=inbox_id,
                direction=direction,
                limit=limit,
                cursor=cursor,
            ),
            cursor,
            options,
        )

    async def delete(self, entry_id: str, **options: Unpack[RequestOptions]) -> ListEntry:
        """Delete an entry.

        Args:
            entry_id: The entry's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The entry deleted.

        Raises:
            NotFoundError: the workspace has no entry by this id.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(_delete(self._credentials, entry_id), options)
