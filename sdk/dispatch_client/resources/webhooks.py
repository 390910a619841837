"""The webhooks resource: endpoints the workspace's events are POSTed to, their delivery log
and replays. Every call needs an account key. Verifying a delivery is offline:
`dispatch_client.webhooks.verify`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

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
from dispatch_client.types.webhook import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointWithSecret,
)

PATH = "/v1/webhooks/endpoints"


def _path(endpoint_id: str, *rest: str) -> str:
    return "/".join((PATH, segment(endpoint_id, "endpoint_id"), *rest))


def _create(
    credentials: Credentials,
    *,
    url: str,
    event_types: Sequence[str] | None,
    enabled: bool,
    description: str | None,
) -> Call[WebhookEndpointWithSecret]:
    request = Request(
        method="POST",
        path=PATH,
        json=body(
            url=url,
            event_types=None if event_types is None else list(event_types),
            enabled=enabled,
            description=description,
        ),
    )
    return decoded((yield from send(credentials, request)), WebhookEndpointWithSecret)


def _list(
    credentials: Credentials, *, limit: int, cursor: str | None
) -> Call[PageData[WebhookEndpoint]]:
    request = Request(method="GET", path=PATH, params=page_params(limit, cursor))
    return decoded((yield from send(credentials, request)), PageData[WebhookEndpoint])


def _one(credentials: Credentials, method: str, endpoint_id: str) -> Call[WebhookEndpoint]:
    request = Request(method=method, path=_path(endpoint_id))
    return decoded((yield from send(credentials, request)), WebhookEndpoint)


def _update(
    credentials: Credentials,
    endpoint_id: str,
    *,
    url: str | None,
    event_types: Sequence[str] | None,
    enabled: bool | None,
    description: str | None,
) -> Call[WebhookEndpoint]:
    request = Request(
        method="PATCH",
        path=_path(endpoint_id),
        json=body(
            url=url,
            event_types=None if event_types is None else list(event_types),
            enabled=enabled,
            description=description,
        ),
    )
    return decoded((yield from send(credentials, request)), WebhookEndpoint)


def _rotate(credentials: Credentials, endpoint_id: str) -> Call[WebhookEndpointWithSecret]:
    request = Request(method="POST", path=_path(endpoint_id, "rotate-secret"))
    return decoded((yield from send(credentials, request)), WebhookEndpointWithSecret)


def _deliveries(
    credentials: Credentials,
    endpoint_id: str,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Call[PageData[WebhookDelivery]]:
    request = Request(
        method="GET",
        path=_path(endpoint_id, "deliveries"),
        params=page_params(limit, cursor, status=status),
    )
    return decoded((yield from send(credentials, request)), PageData[WebhookDelivery])


def _replay(credentials: Credentials, endpoint_id: str, delivery_id: str) -> Call[WebhookDelivery]:
    path = _path(endpoint_id, "deliveries", segment(delivery_id, "delivery_id"), "replay")
    request = Request(method="POST", path=path)
    return decoded((yield from send(credentials, request)), WebhookDelivery)


class Webhooks(SyncResource):
    """Webhook endpoints, their delivery log and replays: `d.webhooks`. Every call needs an
    account key."""

    def create(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        enabled: bool = True,
        description: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpointWithSecret:
        """Register a webhook endpoint: the workspace's events are POSTed to it, signed.

        Args:
            url: An `https://` URL (`http://` and loopback hosts too on a server with
                DISPATCH_WEBHOOK_ALLOW_LOOPBACK), without a user name or password.
            event_types: The event types to send (`message.received`, ...); None: every
                type, those added later too.
            enabled: False: registered, but sent nothing until enabled.
            description: A note for its owner, up to 500 characters.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint with its `secret` (`whsec_...`): keep it, it is shown only here.

        Raises:
            BadRequestError: a field is refused (`param` names it): a URL that is not
                https, points at a non-public address, or carries credentials; an unknown
                event type.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _create(
                self._credentials,
                url=url,
                event_types=event_types,
                enabled=enabled,
                description=description,
            ),
            options,
        )

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[WebhookEndpoint]:
        """The workspace's webhook endpoints, oldest first.

        Args:
            limit: Endpoints per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the oldest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every endpoint, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._page(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    def get(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpoint:
        """One webhook endpoint, without its secret.

        Args:
            endpoint_id: The endpoint's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint: whether it is enabled, and if not, why (`disabled_reason`).

        Raises:
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _one(self._credentials, "GET", endpoint_id),
            options,
        )

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpoint:
        """Change a webhook endpoint; what is left None is kept.

        Args:
            endpoint_id: The endpoint's id.
            url: A new URL (checked as on create).
            event_types: The event types to send; `["*"]`: every type.
            enabled: True re-enables a disabled endpoint: its failures are cleared and its
                pending deliveries are sent at once. False disables it.
            description: A new note; "": none.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint as changed.

        Raises:
            BadRequestError: a field is refused (`param` names it).
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _update(
                self._credentials,
                endpoint_id,
                url=url,
                event_types=event_types,
                enabled=enabled,
                description=description,
            ),
            options,
        )

    def delete(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpoint:
        """Delete a webhook endpoint and its delivery log.

        Args:
            endpoint_id: The endpoint's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint as it was.

        Raises:
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _one(self._credentials, "DELETE", endpoint_id),
            options,
        )

    def rotate_secret(
        self, endpoint_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookEndpointWithSecret:
        """Give a webhook endpoint a new secret; the old one signs beside it for 24 hours.

        Args:
            endpoint_id: The endpoint's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint with its new `secret`, shown only here.

        Raises:
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _rotate(self._credentials, endpoint_id),
            options,
        )

    def deliveries(
        self,
        endpoint_id: str,
        *,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[WebhookDelivery]:
        """An endpoint's delivery log, newest first.

        Args:
            endpoint_id: The endpoint's id.
            status: Only deliveries in this state: `pending`, `succeeded` or `failed`.
            limit: Deliveries per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every delivery, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._page(
            lambda cursor: _deliveries(
                self._credentials, endpoint_id, status=status, limit=limit, cursor=cursor
            ),
            cursor,
            options,
        )

    def replay(
        self, endpoint_id: str, delivery_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookDelivery:
        """Send a delivery again now, with a fresh set of retries (same body and webhook-id).

        Args:
            endpoint_id: The endpoint's id.
            delivery_id: The delivery's id (from `deliveries`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The delivery, `pending` again.

        Raises:
            NotFoundError: no such endpoint or delivery.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(
            _replay(self._credentials, endpoint_id, delivery_id),
            options,
        )


class AsyncWebhooks(AsyncResource):
    """Webhook endpoints, their delivery log and replays: `d.webhooks`. Every call needs an
    account key."""

    async def create(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        enabled: bool = True,
        description: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpointWithSecret:
        """Register a webhook endpoint: the workspace's events are POSTed to it, signed.

        Args:
            url: An `https://` URL (`http://` and loopback hosts too on a server with
                DISPATCH_WEBHOOK_ALLOW_LOOPBACK), without a user name or password.
            event_types: The event types to send (`message.received`, ...); None: every
                type, those added later too.
            enabled: False: registered, but sent nothing until enabled.
            description: A note for its owner, up to 500 characters.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint with its `secret` (`whsec_...`): keep it, it is shown only here.

        Raises:
            BadRequestError: a field is refused (`param` names it): a URL that is not
                https, points at a non-public address, or carries credentials; an unknown
                event type.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _create(
                self._credentials,
                url=url,
                event_types=event_types,
                enabled=enabled,
                description=description,
            ),
            options,
        )

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[WebhookEndpoint]:
        """The workspace's webhook endpoints, oldest first.

        Args:
            limit: Endpoints per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the oldest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every endpoint, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._paginator(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor),
            cursor,
            options,
        )

    async def get(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpoint:
        """One webhook endpoint, without its secret.

        Args:
            endpoint_id: The endpoint's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint: whether it is enabled, and if not, why (`disabled_reason`).

        Raises:
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _one(self._credentials, "GET", endpoint_id),
            options,
        )

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpoint:
        """Change a webhook endpoint; what is left None is kept.

        Args:
            endpoint_id: The endpoint's id.
            url: A new URL (checked as on create).
            event_types: The event types to send; `["*"]`: every type.
            enabled: True re-enables a disabled endpoint: its failures are cleared and its
                pending deliveries are sent at once. False disables it.
            description: A new note; "": none.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint as changed.

        Raises:
            BadRequestError: a field is refused (`param` names it).
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _update(
                self._credentials,
                endpoint_id,
                url=url,
                event_types=event_types,
                enabled=enabled,
                description=description,
            ),
            options,
        )

    async def delete(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpoint:
        """Delete a webhook endpoint and its delivery log.

        Args:
            endpoint_id: The endpoint's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint as it was.

        Raises:
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _one(self._credentials, "DELETE", endpoint_id),
            options,
        )

    async def rotate_secret(
        self, endpoint_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookEndpointWithSecret:
        """Give a webhook endpoint a new secret; the old one signs beside it for 24 hours.

        Args:
            endpoint_id: The endpoint's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The endpoint with its new `secret`, shown only here.

        Raises:
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _rotate(self._credentials, endpoint_id),
            options,
        )

    def deliveries(
        self,
        endpoint_id: str,
        *,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[WebhookDelivery]:
        """An endpoint's delivery log, newest first.

        Args:
            endpoint_id: The endpoint's id.
            status: Only deliveries in this state: `pending`, `succeeded` or `failed`.
            limit: Deliveries per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: the newest.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every delivery, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            NotFoundError: no such endpoint in the workspace.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._paginator(
            lambda cursor: _deliveries(
                self._credentials, endpoint_id, status=status, limit=limit, cursor=cursor
            ),
            cursor,
            options,
        )

    async def replay(
        self, endpoint_id: str, delivery_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookDelivery:
        """Send a delivery again now, with a fresh set of retries (same body and webhook-id).

        Args:
            endpoint_id: The endpoint's id.
            delivery_id: The delivery's id (from `deliveries`).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The delivery, `pending` again.

        Raises:
            NotFoundError: no such endpoint or delivery.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(
            _replay(self._credentials, endpoint_id, delivery_id),
            options,
        )
