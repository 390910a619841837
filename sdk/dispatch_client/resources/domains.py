"""The domains resource: add a custom domain, read the DNS records to publish for it, check
them, delete it. Every call needs an account key."""

from __future__ import annotations

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
from dispatch_client.types.domain import Domain

PATH = "/v1/domains"


def _create(credentials: Credentials, *, name: str) -> Call[Domain]:
    request = Request(method="POST", path=PATH, json=body(name=name))
    return decoded((yield from send(credentials, request)), Domain)


def _list(credentials: Credentials, *, limit: int, cursor: str | None) -> Call[PageData[Domain]]:
    request = Request(method="GET", path=PATH, params=page_params(limit, cursor))
    return decoded((yield from send(credentials, request)), PageData[Domain])


def _path(domain_id: str) -> str:
    return f"{PATH}/{segment(domain_id, 'domain_id')}"


def _get(credentials: Credentials, domain_id: str) -> Call[Domain]:
    request = Request(method="GET", path=_path(domain_id))
    return decoded((yield from send(credentials, request)), Domain)


def _verify(credentials: Credentials, domain_id: str) -> Call[Domain]:
    request = Request(method="POST", path=f"{_path(domain_id)}/verify")
    return decoded((yield from send(credentials, request)), Domain)


def _delete(credentials: Credentials, domain_id: str) -> Call[Domain]:
    request = Request(method="DELETE", path=_path(domain_id))
    return decoded((yield from send(credentials, request)), Domain)


class Domains(SyncResource):
    """The workspace's custom domains: `d.domains`. Every call needs an account key."""

    def create(self, name: str, **options: Unpack[RequestOptions]) -> Domain:
        """Add a custom domain; publish the records it answers with, then `verify` it.

        Args:
            name: A domain you control, such as "mail.example.com" (any case, Unicode or
                punycode).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The pending domain, with its records to publish.

        Raises:
            InvalidArgumentError: not a domain name, an IP address, a public suffix, one of
                the service's own domains, or a label mixing scripts (`param` is "name").
            ConflictError: the workspace has the domain already (code "domain_exists"), or
                another workspace verified it (code "domain_taken").
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(_create(self._credentials, name=name), options)

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPage[Domain]:
        """The workspace's domains, oldest first, each with its records.

        Args:
            limit: Domains per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: from the start.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every domain, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._page(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor), cursor, options
        )

    def get(self, domain_id: str, **options: Unpack[RequestOptions]) -> Domain:
        """One domain, with its records and their last check.

        Args:
            domain_id: The domain's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The domain.

        Raises:
            NotFoundError: the workspace has no domain by this id.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(_get(self._credentials, domain_id), options)

    def verify(self, domain_id: str, **options: Unpack[RequestOptions]) -> Domain:
        """Check the domain's records in DNS now.

        The domain becomes verified once its ownership TXT and MX records are ok; checking
        again only updates each record's status.

        Args:
            domain_id: The domain's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The domain, each record with what this check found (a DNS timeout is
            "unavailable", never an error).

        Raises:
            NotFoundError: the workspace has no domain by this id.
            ConflictError: another workspace verified the name first (code "domain_taken").
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(_verify(self._credentials, domain_id), options)

    def delete(self, domain_id: str, **options: Unpack[RequestOptions]) -> Domain:
        """Delete a domain.

        Args:
            domain_id: The domain's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The domain deleted.

        Raises:
            NotFoundError: the workspace has no domain by this id.
            ConflictError: inboxes have addresses at the domain (code "domain_in_use").
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._run(_delete(self._credentials, domain_id), options)


class AsyncDomains(AsyncResource):
    """The workspace's custom domains: `d.domains`. Every call needs an account key."""

    async def create(self, name: str, **options: Unpack[RequestOptions]) -> Domain:
        """Add a custom domain; publish the records it answers with, then `verify` it.

        Args:
            name: A domain you control, such as "mail.example.com" (any case, Unicode or
                punycode).
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The pending domain, with its records to publish.

        Raises:
            InvalidArgumentError: not a domain name, an IP address, a public suffix, one of
                the service's own domains, or a label mixing scripts (`param` is "name").
            ConflictError: the workspace has the domain already (code "domain_exists"), or
                another workspace verified it (code "domain_taken").
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(_create(self._credentials, name=name), options)

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[Domain]:
        """The workspace's domains, oldest first, each with its records.

        Args:
            limit: Domains per page, 1 to 100.
            cursor: Start after this cursor (a page's `next_cursor`); None: from the start.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The first page (`await` it with AsyncDispatch). Iterating over it (`async for`
            with AsyncDispatch) yields every domain, fetching the next pages as needed.

        Raises:
            InvalidArgumentError: `limit` is out of range.
            PermissionDeniedError: this client's key is not an account key.
        """
        return self._paginator(
            lambda cursor: _list(self._credentials, limit=limit, cursor=cursor), cursor, options
        )

    async def get(self, domain_id: str, **options: Unpack[RequestOptions]) -> Domain:
        """One domain, with its records and their last check.

        Args:
            domain_id: The domain's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The domain.

        Raises:
            NotFoundError: the workspace has no domain by this id.
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(_get(self._credentials, domain_id), options)

    async def verify(self, domain_id: str, **options: Unpack[RequestOptions]) -> Domain:
        """Check the domain's records in DNS now.

        The domain becomes verified once its ownership TXT and MX records are ok; checking
        again only updates each record's status.

        Args:
            domain_id: The domain's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The domain, each record with what this check found (a DNS timeout is
            "unavailable", never an error).

        Raises:
            NotFoundError: the workspace has no domain by this id.
            ConflictError: another workspace verified the name first (code "domain_taken").
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(_verify(self._credentials, domain_id), options)

    async def delete(self, domain_id: str, **options: Unpack[RequestOptions]) -> Domain:
        """Delete a domain.

        Args:
            domain_id: The domain's id.
            **options: Per-call options: timeout, max_retries, extra_headers,
                idempotency_key (see RequestOptions).

        Returns:
            The domain deleted.

        Raises:
            NotFoundError: the workspace has no domain by this id.
            ConflictError: inboxes have addresses at the domain (code "domain_in_use").
            PermissionDeniedError: this client's key is not an account key.
        """
        return await self._run(_delete(self._credentials, domain_id), options)
