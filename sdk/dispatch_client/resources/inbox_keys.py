"""The inbox keys resource, `inboxes.keys`: create, list and revoke the keys of an inbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
    rfc3339,
    segment,
    send,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types.inbox_key import CreatedInboxKey, InboxKey


def _create(
    credentials: Credentials,
    inbox_id: str,
    *,
    label: str | None,
    expires_at: datetime | str | None = None,
    expires_in: int | None = None,
    permissions: Sequence[str] | None = None,
    allowed_senders: Sequence[str] | None = None,
) -> Call[CreatedInboxKey]:
    fields = body(
        label=label,
        expires_at=None if expires_at is None else rfc3339(expires_at),
        expires_in=expires_in,
        permissions=None if permissions is None else list(permissions),
        allowed_senders=None if allowed_senders is None else list(allowed_senders),
    )
    request = Request(method="POST", path=inbox_path(inbox_id, "keys"), json=fields)
    created = decoded((yield from send(credentials, request)), CreatedInboxKey)
    if not created.restricted:
        # This client uses the key it created, too; a restricted one is for someone else.
        credentials.remember(inbox_id, created.key)
    return created


def _list(
    credentials: Credentials, inbox_id: str, *, limit: int, cursor: str | None
) -> Call[PageData[InboxKey]]:
    request = Request(
        method="GET", path=inbox_path(inbox_id, "keys"), params=page_params(limit, cursor)
    )
    return decoded((yield from send(credentials, request)), PageData[InboxKey])


def _revoke(credentials: Credentials, inbox_id: str, key_id: str) -> Call[InboxKey]:
    request = Request(method="DELETE", path=inbox_path(inbox_id, "keys", segment(key_id, "key_id")))
    revoked = decoded((yield from send(credentials, request)), InboxKey)
    credentials.forget_key_id(inbox_id, key_id)
    return revoked


class InboxKeys(SyncResource):
    """API keys that read one inbox: `d.inboxes.keys`. Every call needs an account key."""

    def create(
        self,
        inbox_id: str,
        *,
        label: str | None = None,
        expires_at: datetime | str | None = None,
        expires_in: int | None = None,
        permissions: Sequence[str] | None = None,
        allowed_senders: Sequence[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> CreatedInboxKey:
        """Create an inbox key: a key that reads this inbox only (messages, OTPs, waits).

        An unrestricted key is cached by this client for the inbox and used from then on
        (the client mints inbox keys by itself when it needs them, so this is optional). A
        restricted key is for someone else (another agent): the client does not use it.
        Check a key's restrictions with `Dispatch(api_key=key).auth.me()`.

        Args:
            inbox_id: The inbox's id.
            label: A note to recognise the key by in `keys.list()`.
            expires_at: When the key stops working (then it gets 401); not with
                `expires_in`.
            expires_in: Seconds from now until the key stops working.
            permissions: What the key may do, some of "read", "wait", "send", "memory", "organize";
                None: all. A call needing another raises PermissionDeniedError
                (`code` "missing_permission").
            allowed_senders: The senders whose mail the key may read (messages, artifacts,
                OTP, waits, events): "noreply@x.com", "*@github.com" (a domain),
                "*.example.com" (its subdomains); None: anyone's.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The key; its secret, `key`, is shown only this once.

        Raises:
            InvalidArgumentError: a restriction is malformed (`param` names it).
            NotFoundError: no such inbox in this workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _create(
                self._credentials,
                inbox_id,
                label=label,
                expires_at=expires_at,
                expires_in=expires_in,
                permissions=permissions,
                allowed_senders=allowed_senders,
            ),
            options,
        )

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[InboxKey]:
        """The inbox's active (not revoked) keys, oldest first, without their secrets.

        Args:
            inbox_id: The inbox's id.
            limit: Keys per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: from the start.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every key, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox in this workspace.
        """
        return self._page(
            lambda cursor: _list(self._credentials, inbox_id, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    def revoke(self, inbox_id: str, key_id: str, **options: Unpack[RequestOptions]) -> InboxKey:
        """Revoke an inbox key: its next request gets 401. Revoking it again changes nothing.

        If it is the key this client has cached for the inbox, the client forgets it (and
        mints a new one when it next needs one).

        Args:
            inbox_id: The inbox's id.
            key_id: The key's id (`InboxKey.id`, the part of the key before the '.').
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The key, with `revoked_at` set.

        Raises:
            NotFoundError: no such key for this inbox.
        """
        return self._run(_revoke(self._credentials, inbox_id, key_id), options)


class AsyncInboxKeys(AsyncResource):
    """API keys that read one inbox: `d.inboxes.keys`. Every call needs an account key."""

    async def create(
        self,
        inbox_id: str,
        *,
        label: str | None = None,
        expires_at: datetime | str | None = None,
        expires_in: int | None = None,
        permissions: Sequence[str] | None = None,
        allowed_senders: Sequence[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> CreatedInboxKey:
        """Create an inbox key: a key that reads this inbox only (messages, OTPs, waits).

        An unrestricted key is cached by this client for the inbox and used from then on
        (the client mints inbox keys by itself when it needs them, so this is optional). A
        restricted key is for someone else (another agent): the client does not use it.
        Check a key's restrictions with `Dispatch(api_key=key).auth.me()`.

        Args:
            inbox_id: The inbox's id.
            label: A note to recognise the key by in `keys.list()`.
            expires_at: When the key stops working (then it gets 401); not with
                `expires_in`.
            expires_in: Seconds from now until the key stops working.
            permissions: What the key may do, some of "read", "wait", "send", "memory", "organize";
                None: all. A call needing another raises PermissionDeniedError
                (`code` "missing_permission").
            allowed_senders: The senders whose mail the key may read (messages, artifacts,
                OTP, waits, events): "noreply@x.com", "*@github.com" (a domain),
                "*.example.com" (its subdomains); None: anyone's.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The key; its secret, `key`, is shown only this once.

        Raises:
            InvalidArgumentError: a restriction is malformed (`param` names it).
            NotFoundError: no such inbox in this workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _create(
                self._credentials,
                inbox_id,
                label=label,
                expires_at=expires_at,
                expires_in=expires_in,
                permissions=permissions,
                allowed_senders=allowed_senders,
            ),
            options,
        )

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[InboxKey]:
        """The inbox's active (not revoked) keys, oldest first, without their secrets.

        Args:
            inbox_id: The inbox's id.
            limit: Keys per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: from the start.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every key, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox in this workspace.
        """
        return self._paginator(
            lambda cursor: _list(self._credentials, inbox_id, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    async def revoke(
        self, inbox_id: str, key_id: str, **options: Unpack[RequestOptions]
    ) -> InboxKey:
        """Revoke an inbox key: its next request gets 401. Revoking it again changes nothing.

        If it is the key this client has cached for the inbox, the client forgets it (and
        mints a new one when it next needs one).

        Args:
            inbox_id: The inbox's id.
            key_id: The key's id (`InboxKey.id`, the part of the key before the '.').
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The key, with `revoked_at` set.

        Raises:
            NotFoundError: no such key for this inbox.
        """
        return await self._run(_revoke(self._credentials, inbox_id, key_id), options)
