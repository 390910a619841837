"""The artifacts resource: the OTP codes and links extracted from an inbox's messages."""

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
    send_for_inbox,
)
from dispatch_client._options import RequestOptions
from dispatch_client._resource import AsyncResource, SyncResource
from dispatch_client.pagination import AsyncPaginator, SyncPage
from dispatch_client.types.artifact import Artifact, ArtifactKind


def _list(
    credentials: Credentials,
    inbox_id: str,
    *,
    kind: ArtifactKind | None,
    limit: int,
    cursor: str | None,
) -> Call[PageData[Artifact]]:
    params = page_params(limit, cursor, kind=kind)
    request = Request(method="GET", path=inbox_path(inbox_id, "artifacts"), params=params)
    response = yield from send_for_inbox(credentials, inbox_id, request)
    return decoded(response, PageData[Artifact])


class Artifacts(SyncResource):
    """OTP codes and links found in an inbox's messages: `d.artifacts`."""

    def list(
        self,
        inbox_id: str,
        *,
        kind: ArtifactKind | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[Artifact]:
        """The inbox's artifacts, newest message first.

        Args:
            inbox_id: The inbox's id.
            kind: "otp" or "link" for only those; None for both.
            limit: Artifacts per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every artifact, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._page(
            lambda cursor: _list(
                self._credentials, inbox_id, kind=kind, limit=limit, cursor=cursor
            ),
            cursor,
            options,
        )


class AsyncArtifacts(AsyncResource):
    """OTP codes and links found in an inbox's messages: `d.artifacts`."""

    def list(
        self,
        inbox_id: str,
        *,
        kind: ArtifactKind | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[Artifact]:
        """The inbox's artifacts, newest message first.

        Args:
            inbox_id: The inbox's id.
            kind: "otp" or "link" for only those; None for both.
            limit: Artifacts per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every artifact, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such inbox for this key.
        """
        return self._paginator(
            lambda cursor: _list(
                self._credentials, inbox_id, kind=kind, limit=limit, cursor=cursor
            ),
            cursor,
            options,
        )
