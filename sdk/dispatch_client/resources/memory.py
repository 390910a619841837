"""The memory resource: an inbox's small key/value notes, kept as mail it sends itself
(subject = key, text = value)."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._constants import DEFAULT_LIMIT
from dispatch_client._core import (
    Call,
    Credentials,
    PageData,
    Request,
    decoded,
    field,
    inbox_path,
    page_params,
    send_for_inbox,
)
from dispatch_client._errors import InvalidArgumentError, NotFoundError
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types._decode import decode
from dispatch_client.types.memory import MemoryEntry, MemoryKey


def _key(key: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgumentError(f"key must be a non-blank string, got {key!r}", param="key")
    return key


def _write(credentials: Credentials, inbox_id: str, key: str, value: str) -> Call[MemoryEntry]:
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"value must be a string, not {type(value).__name__}", param="value"
        )
    request = Request(
        method="POST",
        path=inbox_path(inbox_id, "memory"),
        json={"key": _key(key), "value": value},
        idempotent=True,
    )
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), MemoryEntry)


def _read(credentials: Credentials, inbox_id: str, key: str) -> Call[MemoryEntry | None]:
    request = Request(method="GET", path=inbox_path(inbox_id, "memory"), params={"key": _key(key)})
    try:
        answer = yield from send_for_inbox(credentials, inbox_id, request)
    except NotFoundError as error:
        if error.code == "not_found":  # no value for the key (or no such inbox: see read)
            return None
        raise
    return decoded(answer, MemoryEntry)


def _history(
    credentials: Credentials, inbox_id: str, key: str, *, limit: int, cursor: str | None
) -> Call[PageData[MemoryEntry]]:
    params = {"key": _key(key), **page_params(limit, cursor)}
    request = Request(method="GET", path=inbox_path(inbox_id, "memory", "history"), params=params)
    return decoded(
        (yield from send_for_inbox(credentials, inbox_id, request)), PageData[MemoryEntry]
    )


def _keys(credentials: Credentials, inbox_id: str) -> Call[list[MemoryKey]]:
    request = Request(method="GET", path=inbox_path(inbox_id, "memory", "keys"))
    return decode(
        field((yield from send_for_inbox(credentials, inbox_id, request)), "data"), list[MemoryKey]
    )


class Memory(SyncResource):
    """An inbox's key/value notes, kept as mail it sends itself: `d.memory`."""

    def write(
        self, inbox_id: str, key: str, value: str, **options: Unpack[RequestOptions]
    ) -> MemoryEntry:
        """Write a value for a key: mail the inbox sends itself (subject = key, text = value).

        The latest write of a key is what `read` gives; every write stays in `history` for
        the server's retention window. A write is a send: it counts against the workspace's
        daily send quota and shows in `sent.list()`. Idempotent like `messages.send`.

        Args:
            inbox_id: The inbox's id.
            key: The key, 1 to 255 characters, not blank.
            value: The value, at most 64 KiB of text.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The entry written.

        Raises:
            InvalidArgumentError: a blank key or a value that is not a string.
            BadRequestError: the key or value is too long, or the write was not kept.
            NotFoundError: no such inbox for this key.
            QuotaExceededError: the workspace's sends for today are used up.
        """
        return self._run(_write(self._credentials, inbox_id, key, value), options)

    def read(
        self, inbox_id: str, key: str, **options: Unpack[RequestOptions]
    ) -> MemoryEntry | None:
        """The latest value written for a key, or None if it has none.

        Only mail the inbox sent itself counts, so nobody can write an inbox's memory by
        mailing it. An inbox this client's key cannot see is a 404 too: None as well.

        Args:
            inbox_id: The inbox's id.
            key: The key (exact).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The latest entry, or None.

        Raises:
            InvalidArgumentError: a blank key.
        """
        return self._run(_read(self._credentials, inbox_id, key), options)

    def history(
        self,
        inbox_id: str,
        key: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[MemoryEntry]:
        """Every value written for a key, newest first.

        Args:
            inbox_id: The inbox's id.
            key: The key (exact).
            limit: Entries per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every entry, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: a blank key, or `limit` out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._page(
            lambda cursor: _history(self._credentials, inbox_id, key, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    def keys(self, inbox_id: str, **options: Unpack[RequestOptions]) -> list[MemoryKey]:
        """The inbox's memory keys, most recently written first (at most 1000).

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The keys, each with when it was last written.

        Raises:
            NotFoundError: no such inbox for this key.
        """
        return self._run(_keys(self._credentials, inbox_id), options)


class AsyncMemory(AsyncResource):
    """An inbox's key/value notes, kept as mail it sends itself: `d.memory`."""

    async def write(
        self, inbox_id: str, key: str, value: str, **options: Unpack[RequestOptions]
    ) -> MemoryEntry:
        """Write a value for a key: mail the inbox sends itself (subject = key, text = value).

        The latest write of a key is what `read` gives; every write stays in `history` for
        the server's retention window. A write is a send: it counts against the workspace's
        daily send quota and shows in `sent.list()`. Idempotent like `messages.send`.

        Args:
            inbox_id: The inbox's id.
            key: The key, 1 to 255 characters, not blank.
            value: The value, at most 64 KiB of text.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The entry written.

        Raises:
            InvalidArgumentError: a blank key or a value that is not a string.
            BadRequestError: the key or value is too long, or the write was not kept.
            NotFoundError: no such inbox for this key.
            QuotaExceededError: the workspace's sends for today are used up.
        """
        return await self._run(_write(self._credentials, inbox_id, key, value), options)

    async def read(
        self, inbox_id: str, key: str, **options: Unpack[RequestOptions]
    ) -> MemoryEntry | None:
        """The latest value written for a key, or None if it has none.

        Only mail the inbox sent itself counts, so nobody can write an inbox's memory by
        mailing it. An inbox this client's key cannot see is a 404 too: None as well.

        Args:
            inbox_id: The inbox's id.
            key: The key (exact).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The latest entry, or None.

        Raises:
            InvalidArgumentError: a blank key.
        """
        return await self._run(_read(self._credentials, inbox_id, key), options)

    def history(
        self,
        inbox_id: str,
        key: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[MemoryEntry]:
        """Every value written for a key, newest first.

        Args:
            inbox_id: The inbox's id.
            key: The key (exact).
            limit: Entries per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every entry, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: a blank key, or `limit` out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._paginator(
            lambda cursor: _history(self._credentials, inbox_id, key, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    async def keys(self, inbox_id: str, **options: Unpack[RequestOptions]) -> list[MemoryKey]:
        """The inbox's memory keys, most recently written first (at most 1000).

        Args:
            inbox_id: The inbox's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The keys, each with when it was last written.

        Raises:
            NotFoundError: no such inbox for this key.
        """
        return await self._run(_keys(self._credentials, inbox_id), options)
