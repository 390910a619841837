"""The sent resource: the mail an inbox sent, with each message's delivery state and
events."""

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
from dispatch_client.types.sent import SendStatus, SentMessage


def _list(
    credentials: Credentials,
    inbox_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: SendStatus | None,
) -> Call[PageData[SentMessage]]:
    params = page_params(limit, cursor, status=status)
    request = Request(method="GET", path=inbox_path(inbox_id, "sent"), params=params)
    answer = yield from send_for_inbox(credentials, inbox_id, request)
    return decoded(answer, PageData[SentMessage])


def _get(credentials: Credentials, inbox_id: str, sent_id: str) -> Call[SentMessage]:
    request = Request(method="GET", path=inbox_path(inbox_id, "sent", segment(sent_id, "sent_id")))
    return decoded((yield from send_for_inbox(credentials, inbox_id, request)), SentMessage)


class SentMessages(SyncResource):
    """The mail an inbox sent, with its delivery states: `d.sent`."""

    def list(
        self,
        inbox_id: str,
        *,
        status: SendStatus | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[SentMessage]:
        """The inbox's sent mail, newest first, each with its state and events.

        Args:
            inbox_id: The inbox's id.
            status: Only sent mail in this delivery state ("queued", "sent", "delivered",
                "bounced", "complained", "rejected", "failed", "suppressed", "blocked");
                None: all.
            limit: Messages per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every sent message, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            BadRequestError: an unknown `status`.
            NotFoundError: no such inbox for this key.
        """
        return self._page(
            lambda cursor: _list(
                self._credentials, inbox_id, limit=limit, cursor=cursor, status=status
            ),
            cursor,
            options,
        )

    def get(self, inbox_id: str, sent_id: str, **options: Unpack[RequestOptions]) -> SentMessage:
        """One sent message, with its current state and its events.

        Args:
            inbox_id: The inbox's id.
            sent_id: The sent message's id (`SentMessage.id`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent message.

        Raises:
            NotFoundError: no such sent message in this inbox.
        """
        return self._run(_get(self._credentials, inbox_id, sent_id), options)


class AsyncSentMessages(AsyncResource):
    """The mail an inbox sent, with its delivery states: `d.sent`."""

    def list(
        self,
        inbox_id: str,
        *,
        status: SendStatus | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[SentMessage]:
        """The inbox's sent mail, newest first, each with its state and events.

        Args:
            inbox_id: The inbox's id.
            status: Only sent mail in this delivery state ("queued", "sent", "delivered",
                "bounced", "complained", "rejected", "failed", "suppressed", "blocked");
                None: all.
            limit: Messages per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every sent message, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            BadRequestError: an unknown `status`.
            NotFoundError: no such inbox for this key.
        """
        return self._paginator(
            lambda cursor: _list(
                self._credentials, inbox_id, limit=limit, cursor=cursor, status=status
            ),
            cursor,
            options,
        )

    async def get(
        self, inbox_id: str, sent_id: str, **options: Unpack[RequestOptions]
    ) -> SentMessage:
        """One sent message, with its current state and its events.

        Args:
            inbox_id: The inbox's id.
            sent_id: The sent message's id (`SentMessage.id`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The sent message.

        Raises:
            NotFoundError: no such sent message in this inbox.
        """
        return await self._run(_get(self._credentials, inbox_id, sent_id), options)
