"""`Dispatch` and `AsyncDispatch`: configuration, `with_options()`, and the resources."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from types import TracebackType
from typing import Generic, Self, TypeVar

import httpx

from dispatch_client._constants import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from dispatch_client._core import Credentials, WaitState
from dispatch_client._errors import InvalidArgumentError
from dispatch_client._options import CallOptions, check_retries, check_timeout
from dispatch_client._transport import AsyncDriver, SyncDriver
from dispatch_client.resources.agent import AgentResource, AsyncAgentResource
from dispatch_client.resources.artifacts import Artifacts, AsyncArtifacts
from dispatch_client.resources.attachments import AsyncAttachments, Attachments
from dispatch_client.resources.auth import AsyncAuthResource, AuthResource
from dispatch_client.resources.billing import AsyncBilling, Billing
from dispatch_client.resources.domains import AsyncDomains, Domains
from dispatch_client.resources.drafts import AsyncDrafts, Drafts
from dispatch_client.resources.events import AsyncEvents, Events
from dispatch_client.resources.inboxes import AsyncInboxes, Inboxes
from dispatch_client.resources.lists import AsyncLists, Lists
from dispatch_client.resources.memory import AsyncMemory, Memory
from dispatch_client.resources.messages import AsyncMessages, Messages
from dispatch_client.resources.operator import AsyncOperatorResource, OperatorResource
from dispatch_client.resources.otp import AsyncOtpResource, OtpResource
from dispatch_client.resources.sent import AsyncSentMessages, SentMessages
from dispatch_client.resources.suppressions import AsyncSuppressions, Suppressions
from dispatch_client.resources.threads import AsyncThreads, Threads
from dispatch_client.resources.webhooks import AsyncWebhooks, Webhooks

Driver = TypeVar("Driver", SyncDriver, AsyncDriver)


def _base_url(given: str | None) -> str:
    """The base URL from the argument, else the environment, else the default; checked here,
    so a wrong one fails at construction rather than on the first request."""
    url = (given or "").strip()
    source = "base_url"
    if not url and os.environ.get("DISPATCH_BASE_URL", "").strip():
        url, source = os.environ["DISPATCH_BASE_URL"].strip(), "$DISPATCH_BASE_URL"
    url = (url or DEFAULT_BASE_URL).rstrip("/")
    try:
        parsed: httpx.URL | None = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidArgumentError(
            f"{source} must be an http:// or https:// URL with a host, got {url!r}",
            param="base_url",
        )
    if parsed.path.endswith("/v1"):
        raise InvalidArgumentError(
            f"{source} ends in '/v1'; the SDK adds /v1 itself: use {url.removesuffix('/v1')}",
            param="base_url",
        )
    return url


def _credentials(api_key: str | None, inbox_keys: Mapping[str, str] | None) -> Credentials:
    key = (api_key or "").strip() or os.environ.get("DISPATCH_API_KEY", "").strip() or None
    return Credentials(api_key=key, inbox_keys=dict(inbox_keys or {}))


def _defaults(timeout: float, max_retries: int, *, own_http_client: bool) -> CallOptions:
    timeout = check_timeout(timeout)
    # `timeout` configures the httpx client the SDK makes; yours keeps its own timeouts.
    return CallOptions(
        timeout=timeout if own_http_client else None, max_retries=check_retries(max_retries)
    )


class _Client(Generic[Driver]):
    """What both clients share: their state, and copies of it with other defaults."""

    _driver: Driver
    _credentials: Credentials
    _waits: WaitState
    _options: CallOptions
    _owns_http_client: bool

    def _share(
        self,
        driver: Driver,
        credentials: Credentials,
        waits: WaitState,
        options: CallOptions,
        *,
        owns_http_client: bool,
    ) -> None:
        self._driver = driver
        self._credentials = credentials
        self._waits = waits
        self._options = options
        self._owns_http_client = owns_http_client

    @property
    def base_url(self) -> str:
        """The server's URL, without /v1 (which the SDK adds to every path)."""
        return self._driver.base_url

    @property
    def inbox_keys(self) -> dict[str, str]:
        """Inbox keys held by this client (given, minted or from signup), by inbox id.

        Pass them as `inbox_keys=` to a later client to skip minting.
        """
        return dict(self._credentials.inbox_keys)

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Self:
        """A copy of this client with other defaults for its calls.

        The copy shares this client's connection pool, keys (given, minted or cached),
        and remembered wait positions; closing it leaves the pool open for this client.
        `d.with_options(timeout=5).inboxes.create()`.

        Args:
            timeout: Seconds for each HTTP request; None: keep this client's.
            max_retries: How often to retry a failed request; None: keep this client's.
            extra_headers: HTTP headers to add to every request, on top of this client's.

        Returns:
            The copy.

        Raises:
            InvalidArgumentError: a negative or zero `timeout`, or a negative `max_retries`.
        """
        options = self._options.merged(
            timeout=timeout, max_retries=max_retries, extra_headers=extra_headers
        )
        copy = object.__new__(type(self))
        copy._share(self._driver, self._credentials, self._waits, options, owns_http_client=False)
        return copy


class Dispatch(_Client[SyncDriver]):
    """The Dispatch API, synchronously: `d.otp.wait_for_otp(inbox.id)`.

    `api_key` and `base_url` default to $DISPATCH_API_KEY and $DISPATCH_BASE_URL (then
    http://127.0.0.1:8000; without /v1, which the SDK adds). An account key works
    everywhere: inbox routes get an inbox key minted and cached on first use. A client may
    be built without a key, for `agent.signup()`; any keyed call then raises DispatchError.
    `timeout` (seconds for each HTTP request) does not apply to your own `http_client`.
    Redirects are not followed: a 3xx raises APIStatusError naming the Location. One client
    can be shared by threads.

    Args:
        api_key: An account key (`<key_id>.<secret>`) or an inbox key; default
            $DISPATCH_API_KEY. None: only `agent.signup()` works until it returns a key.
        base_url: The server, without /v1; default $DISPATCH_BASE_URL, then
            http://127.0.0.1:8000.
        timeout: Seconds for each HTTP request (connect, read, write); 30 by default.
        max_retries: Retries of a request that failed safely (see the guide); 2 by default.
        inbox_keys: Inbox keys you already hold, by inbox id, so none is minted for them.
        http_client: Your own httpx.Client (proxies, mTLS...); the SDK neither changes nor
            closes it.

    Raises:
        InvalidArgumentError: a base_url that is not an http(s) URL or ends in /v1, or a
            negative timeout or max_retries.
        DispatchError: a malformed key (the key itself is never in the message).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        inbox_keys: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        url = _base_url(base_url)
        credentials = _credentials(api_key, inbox_keys)
        options = _defaults(timeout, max_retries, own_http_client=http_client is None)
        client = http_client or httpx.Client(timeout=timeout)
        self._share(
            SyncDriver(client, url),
            credentials,
            WaitState(),
            options,
            owns_http_client=http_client is None,
        )

    @cached_property
    def agent(self) -> AgentResource:
        """Signing up: `d.agent.signup()`."""
        return AgentResource(self)

    @cached_property
    def auth(self) -> AuthResource:
        """The presented key: `d.auth.me()`."""
        return AuthResource(self)

    @cached_property
    def inboxes(self) -> Inboxes:
        """The workspace's inboxes, and their keys (`d.inboxes.keys`)."""
        return Inboxes(self)

    @cached_property
    def messages(self) -> Messages:
        """The mail an inbox received, waiting for new mail, and sending: `send`, `reply`."""
        return Messages(self)

    @cached_property
    def sent(self) -> SentMessages:
        """The mail an inbox sent, with each message's delivery state and events."""
        return SentMessages(self)

    @cached_property
    def suppressions(self) -> Suppressions:
        """Recipients the workspace may no longer send to (after a bounce or complaint)."""
        return Suppressions(self)

    @cached_property
    def attachments(self) -> Attachments:
        """A received message's attachments: listed, streamed, saved to files."""
        return Attachments(self)

    @cached_property
    def lists(self) -> Lists:
        """Allow and block lists, per workspace or inbox, for mail received and sent."""
        return Lists(self)

    @cached_property
    def threads(self) -> Threads:
        """An inbox's conversations: received and sent mail that answer one another."""
        return Threads(self)

    @cached_property
    def drafts(self) -> Drafts:
        """An inbox's drafts: saved, updated, then sent as a send is."""
        return Drafts(self)

    @cached_property
    def domains(self) -> Domains:
        """Custom domains: their DNS records, their checks, inboxes at them once verified."""
        return Domains(self)

    @cached_property
    def memory(self) -> Memory:
        """An inbox's key/value notes, kept as mail it sends itself."""
        return Memory(self)

    @cached_property
    def artifacts(self) -> Artifacts:
        """OTP codes and links found in an inbox's messages."""
        return Artifacts(self)

    @cached_property
    def otp(self) -> OtpResource:
        """One-time codes: `d.otp.wait_for_otp(inbox.id)`."""
        return OtpResource(self)

    @cached_property
    def operator(self) -> OperatorResource:
        """An operator's account and the agents they claim: `d.operator.login(...)`."""
        return OperatorResource(self)

    @cached_property
    def billing(self) -> Billing:
        """Entitlements, Stripe checkout, x402 quotes and confirmations: `d.billing`."""
        return Billing(self)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Webhook endpoints, their delivery log and replays: `d.webhooks`."""
        return Webhooks(self)

    @cached_property
    def events(self) -> Events:
        """The workspace's events as they happen: `for event in d.events.watch()`."""
        return Events(self)

    def close(self) -> None:
        """Close the HTTP connections, unless the `http_client` was yours or this is a copy
        made by with_options()."""
        if self._owns_http_client:
            self._driver.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncDispatch(_Client[AsyncDriver]):
    """The Dispatch API for asyncio: `await d.otp.wait_for_otp(inbox.id)`.

    The same surface as `Dispatch`, every call awaited; lists are awaited for their first
    page or iterated with `async for`. One client can be shared by the tasks of one event
    loop.

    Args:
        api_key: An account key (`<key_id>.<secret>`) or an inbox key; default
            $DISPATCH_API_KEY. None: only `agent.signup()` works until it returns a key.
        base_url: The server, without /v1; default $DISPATCH_BASE_URL, then
            http://127.0.0.1:8000.
        timeout: Seconds for each HTTP request (connect, read, write); 30 by default.
        max_retries: Retries of a request that failed safely (see the guide); 2 by default.
        inbox_keys: Inbox keys you already hold, by inbox id, so none is minted for them.
        http_client: Your own httpx.AsyncClient (proxies, mTLS...); the SDK neither changes nor
            closes it.

    Raises:
        InvalidArgumentError: a base_url that is not an http(s) URL or ends in /v1, or a
            negative timeout or max_retries.
        DispatchError: a malformed key (the key itself is never in the message).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        inbox_keys: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        url = _base_url(base_url)
        credentials = _credentials(api_key, inbox_keys)
        options = _defaults(timeout, max_retries, own_http_client=http_client is None)
        client = http_client or httpx.AsyncClient(timeout=timeout)
        self._share(
            AsyncDriver(client, url),
            credentials,
            WaitState(),
            options,
            owns_http_client=http_client is None,
        )

    @cached_property
    def agent(self) -> AsyncAgentResource:
        """Signing up: `d.agent.signup()`."""
        return AsyncAgentResource(self)

    @cached_property
    def auth(self) -> AsyncAuthResource:
        """The presented key: `d.auth.me()`."""
        return AsyncAuthResource(self)

    @cached_property
    def inboxes(self) -> AsyncInboxes:
        """The workspace's inboxes, and their keys (`d.inboxes.keys`)."""
        return AsyncInboxes(self)

    @cached_property
    def messages(self) -> AsyncMessages:
        """The mail an inbox received, waiting for new mail, and sending: `send`, `reply`."""
        return AsyncMessages(self)

    @cached_property
    def sent(self) -> AsyncSentMessages:
        """The mail an inbox sent, with each message's delivery state and events."""
        return AsyncSentMessages(self)

    @cached_property
    def suppressions(self) -> AsyncSuppressions:
        """Recipients the workspace may no longer send to (after a bounce or complaint)."""
        return AsyncSuppressions(self)

    @cached_property
    def attachments(self) -> AsyncAttachments:
        """A received message's attachments: listed, streamed, saved to files."""
        return AsyncAttachments(self)

    @cached_property
    def lists(self) -> AsyncLists:
        """Allow and block lists, per workspace or inbox, for mail received and sent."""
        return AsyncLists(self)

    @cached_property
    def threads(self) -> AsyncThreads:
        """An inbox's conversations: received and sent mail that answer one another."""
        return AsyncThreads(self)

    @cached_property
    def drafts(self) -> AsyncDrafts:
        """An inbox's drafts: saved, updated, then sent as a send is."""
        return AsyncDrafts(self)

    @cached_property
    def domains(self) -> AsyncDomains:
        """Custom domains: their DNS records, their checks, inboxes at them once verified."""
        return AsyncDomains(self)

    @cached_property
    def memory(self) -> AsyncMemory:
        """An inbox's key/value notes, kept as mail it sends itself."""
        return AsyncMemory(self)

    @cached_property
    def artifacts(self) -> AsyncArtifacts:
        """OTP codes and links found in an inbox's messages."""
        return AsyncArtifacts(self)

    @cached_property
    def otp(self) -> AsyncOtpResource:
        """One-time codes: `d.otp.wait_for_otp(inbox.id)`."""
        return AsyncOtpResource(self)

    @cached_property
    def operator(self) -> AsyncOperatorResource:
        """An operator's account and the agents they claim: `d.operator.login(...)`."""
        return AsyncOperatorResource(self)

    @cached_property
    def billing(self) -> AsyncBilling:
        """Entitlements, Stripe checkout, x402 quotes and confirmations: `d.billing`."""
        return AsyncBilling(self)

    @cached_property
    def webhooks(self) -> AsyncWebhooks:
        """Webhook endpoints, their delivery log and replays: `d.webhooks`."""
        return AsyncWebhooks(self)

    @cached_property
    def events(self) -> AsyncEvents:
        """The workspace's events as they happen: `async for event in d.events.watch()`."""
        return AsyncEvents(self)

    async def aclose(self) -> None:
        """Close the HTTP connections, unless the `http_client` was yours or this is a copy
        made by with_options()."""
        if self._owns_http_client:
            await self._driver.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
