"""The threads resource: an inbox's conversations, received and sent mail together, listed
latest activity first, and one thread with its messages. Needs the inbox's key (an account
key client mints one, as for messages)."""

from __future__ import annotations

from typing import Unpack

from dispatch_client._constants import DEFAULT_LIMIT
from dispatch_client._core import (
    Call,
    Credentials,
    PageData,
    Request,
    decoded,
    inbox_path,
    page_params,
    segment,
    send_for_inbox,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types.thread import Thread, ThreadSummary


def _list(
    credentials: Credentials, inbox_id: str, *, limit: int, cursor: str | None
) -> Call[PageData[ThreadSummary]]:
    request = Request(
        method="GET", path=inbox_path(inbox_id, "threads"), params=page_params(limit, cursor)
    )
    answer = yield from send_for_inbox(credentials, inbox_id, request)
    return decoded(answer, PageData[ThreadSummary])


def _get(credentials: Credentials, inbox_id: str, thread_id: str) -> Call[Thread]:
    path = inbox_path(inbox_id, "threads", segment(thread_id, "thread_id"))
    request = Request(method="GET", path=path)
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), Thread)


class Threads(SyncResource):
    """An inbox's conversations, received and sent mail together: `d.threads`."""

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[ThreadSummary]:
        """The inbox's threads, latest activity first.

        Mail is threaded by Message-ID, In-Reply-To and References (by subject only for
        mail that has neither header); the inbox folder's received mail and the inbox's
        sends are threaded, spam, quarantined mail and memory writes are not.

        Args:
            inbox_id: The inbox's id.
            limit: Threads per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the latest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every thread, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._page(
            lambda cursor: _list(self._credentials, inbox_id, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    def get(self, inbox_id: str, thread_id: str, **options: Unpack[RequestOptions]) -> Thread:
        """One thread with its messages, received and sent, oldest first.

        Args:
            inbox_id: The inbox's id.
            thread_id: The thread's id (a message's or a send's `thread_id`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The thread; `messages.get()` and `sent.get()` have each message whole.

        Raises:
            NotFoundError: no such thread in this inbox (or none this key may read).
        """
        return self._run(_get(self._credentials, inbox_id, thread_id), options)


class AsyncThreads(AsyncResource):
    """An inbox's conversations, received and sent mail together: `d.threads`."""

    def list(
        self,
        inbox_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[ThreadSummary]:
        """The inbox's threads, latest activity first.

        Mail is threaded by Message-ID, In-Reply-To and References (by subject only for
        mail that has neither header); the inbox folder's received mail and the inbox's
        sends are threaded, spam, quarantined mail and memory writes are not.

        Args:
            inbox_id: The inbox's id.
            limit: Threads per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the latest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every thread, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._paginator(
            lambda cursor: _list(self._credentials, inbox_id, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    async def get(self, inbox_id: str, thread_id: str, **options: Unpack[RequestOptions]) -> Thread:
        """One thread with its messages, received and sent, oldest first.

        Args:
            inbox_id: The inbox's id.
            thread_id: The thread's id (a message's or a send's `thread_id`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The thread; `messages.get()` and `sent.get()` have each message whole.

        Raises:
            NotFoundError: no such thread in this inbox (or none this key may read).
        """
        return await self._run(_get(self._credentials, inbox_id, thread_id), options)
