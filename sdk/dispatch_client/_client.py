"""`Dispatch` and `AsyncDispatch`: the same surface, thin wrappers over _calls."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import httpx

from dispatch_client import _calls as calls
from dispatch_client._calls import Call, Credentials, WaitQuery, WaitState
from dispatch_client._errors import DispatchError
from dispatch_client._models import (
    Artifact,
    ArtifactKind,
    ArtifactPage,
    Folder,
    Inbox,
    InboxKey,
    Message,
    MessagePage,
    Otp,
    Signup,
    WaitKind,
    WaitResult,
)
from dispatch_client._paging import apaginate, paginate
from dispatch_client._transport import AsyncDriver, SyncDriver

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
Since = datetime | str | None


def _configure(
    api_key: str | None, base_url: str | None, inbox_keys: Mapping[str, str] | None
) -> tuple[str, Credentials]:
    """Base URL and credentials from the arguments, else the environment; checked here, so a
    malformed value fails at construction rather than on the first request."""
    key = (api_key or "").strip() or os.environ.get("DISPATCH_API_KEY", "").strip() or None
    url = (base_url or "").strip() or os.environ.get("DISPATCH_BASE_URL", "").strip()
    url = url or DEFAULT_BASE_URL
    try:
        parsed: httpx.URL | None = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise DispatchError(f"base_url must be an http:// or https:// URL with a host, got {url!r}")
    return url.rstrip("/"), Credentials(api_key=key, inbox_keys=dict(inbox_keys or {}))


# --- sync ------------------------------------------------------------------------------


class Dispatch:
    """The Dispatch API, synchronously.

    `api_key` and `base_url` default to $DISPATCH_API_KEY and $DISPATCH_BASE_URL. An account
    key works everywhere: inbox routes get an inbox key minted and cached on first use.
    A client may be built without a key (for `agent.signup()`); any keyed call then raises
    DispatchError. `timeout` is ignored when you pass your own `http_client`. Redirects are
    not followed: a 3xx raises APIStatusError naming the Location.
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
        self.base_url, self._credentials = _configure(api_key, base_url, inbox_keys)
        self._waits = WaitState()
        self._owns_client = http_client is None
        client = http_client or httpx.Client(timeout=timeout)
        self._driver = SyncDriver(client, self.base_url, max_retries)
        self.agent = Agent(self)
        self.inboxes = Inboxes(self)
        self.messages = Messages(self)
        self.artifacts = Artifacts(self)
        self.otp = OtpResource(self)

    @property
    def inbox_keys(self) -> dict[str, str]:
        """Inbox keys held by this client (given, minted or from signup), by inbox id.
        Pass them as `inbox_keys=` to a later client to skip minting."""
        return dict(self._credentials.inbox_keys)

    def _run(self, call: Call[T]) -> T:
        return self._driver.run(call)

    def close(self) -> None:
        """Close the HTTP connections, unless the `http_client` was yours."""
        if self._owns_client:
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


class _Resource:
    def __init__(self, client: Dispatch) -> None:
        self._client = client
        self._credentials = client._credentials
        self._waits = client._waits


class Agent(_Resource):
    def signup(self, *, name: str | None = None, local_part: str | None = None) -> Signup:
        """Create a workspace, agent, default inbox and keys. Needs no API key.

        The new inbox key is cached on this client, and a client without a key adopts the
        new account key. Store `account_key` (shown once) and later use
        `Dispatch(api_key=signup.account_key)`."""
        return self._client._run(calls.signup(self._credentials, name=name, local_part=local_part))


class Inboxes(_Resource):
    def create(self, *, local_part: str | None = None, display_name: str | None = None) -> Inbox:
        return self._client._run(
            calls.create_inbox(self._credentials, local_part=local_part, display_name=display_name)
        )

    def list(self) -> list[Inbox]:
        return self._client._run(calls.list_inboxes(self._credentials))

    def get(self, inbox_id: str) -> Inbox:
        return self._client._run(calls.get_inbox(self._credentials, inbox_id))

    def create_key(self, inbox_id: str, *, label: str | None = None) -> InboxKey:
        return self._client._run(calls.create_inbox_key(self._credentials, inbox_id, label=label))


class Messages(_Resource):
    def list(
        self, inbox_id: str, *, limit: int = 50, cursor: str | None = None, folder: Folder = "inbox"
    ) -> MessagePage:
        return self._client._run(
            calls.list_messages(
                self._credentials, inbox_id, limit=limit, cursor=cursor, folder=folder
            )
        )

    def iter(
        self, inbox_id: str, *, folder: Folder = "inbox", page_size: int = 100
    ) -> Iterator[Message]:
        """Every message, newest first, fetching pages as you go."""
        return paginate(
            lambda cursor: self.list(inbox_id, limit=page_size, cursor=cursor, folder=folder)
        )

    def get(self, inbox_id: str, message_id: str) -> Message:
        return self._client._run(calls.get_message(self._credentials, inbox_id, message_id))

    def raw(self, inbox_id: str, message_id: str) -> bytes:
        return self._client._run(calls.raw_message(self._credentials, inbox_id, message_id))

    def wait(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: Since = None,
        from_: str | None = None,
        subject: str | None = None,
        kind: WaitKind = "message",
        folder: Folder = "inbox",
    ) -> WaitResult:
        """One server-side wait of up to `timeout` seconds (the server caps it, by default at
        60 s); may come back unmatched. Remembers nothing: pass `after=result.cursor`."""
        query = WaitQuery(
            kind=kind, after=after, since=since, from_=from_, subject=subject, folder=folder
        )
        return self._client._run(
            calls.wait_once(self._credentials, inbox_id, query, timeout=timeout)
        )

    def wait_for_message(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: Since = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
    ) -> Message:
        """The next matching message (with its artifacts), waiting server-side; raises
        WaitTimeoutError after `timeout` seconds. Without `since`/`after`: the newest recent
        match, or, after an earlier wait_for_* of this client on this inbox returned one,
        the first match after that message."""
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        return self._client._run(
            calls.wait_for_message(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        )


class Artifacts(_Resource):
    def list(
        self,
        inbox_id: str,
        *,
        kind: ArtifactKind | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ArtifactPage:
        return self._client._run(
            calls.list_artifacts(self._credentials, inbox_id, kind=kind, limit=limit, cursor=cursor)
        )

    def iter(
        self, inbox_id: str, *, kind: ArtifactKind | None = None, page_size: int = 100
    ) -> Iterator[Artifact]:
        """Every artifact, newest message first, fetching pages as you go."""
        return paginate(
            lambda cursor: self.list(inbox_id, kind=kind, limit=page_size, cursor=cursor)
        )


class OtpResource(_Resource):
    def latest(self, inbox_id: str) -> Otp | None:
        """The newest OTP in the inbox (spam excluded), or None."""
        return self._client._run(calls.latest_otp(self._credentials, inbox_id))

    def wait_for_otp(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: Since = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
    ) -> str:
        """The code of an OTP mail, waiting server-side until one arrives; raises
        WaitTimeoutError after `timeout` seconds. Which mail: the newest received since
        `since` (default: the server's lookback, 10 minutes); the first after the `after`
        cursor; without either, once an earlier wait_for_* of this client on this inbox
        returned a message, the first after that one (so a resent code is a new code)."""
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        return self._client._run(
            calls.wait_for_otp(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        )


# --- async -----------------------------------------------------------------------------


class AsyncDispatch:
    """The Dispatch API for asyncio; the same surface as `Dispatch`, every call awaited."""

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
        self.base_url, self._credentials = _configure(api_key, base_url, inbox_keys)
        self._waits = WaitState()
        self._owns_client = http_client is None
        client = http_client or httpx.AsyncClient(timeout=timeout)
        self._driver = AsyncDriver(client, self.base_url, max_retries)
        self.agent = AsyncAgent(self)
        self.inboxes = AsyncInboxes(self)
        self.messages = AsyncMessages(self)
        self.artifacts = AsyncArtifacts(self)
        self.otp = AsyncOtpResource(self)

    @property
    def inbox_keys(self) -> dict[str, str]:
        """Inbox keys held by this client (given, minted or from signup), by inbox id."""
        return dict(self._credentials.inbox_keys)

    async def _run(self, call: Call[T]) -> T:
        return await self._driver.run(call)

    async def aclose(self) -> None:
        """Close the HTTP connections, unless the `http_client` was yours."""
        if self._owns_client:
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


class _AsyncResource:
    def __init__(self, client: AsyncDispatch) -> None:
        self._client = client
        self._credentials = client._credentials
        self._waits = client._waits


class AsyncAgent(_AsyncResource):
    async def signup(self, *, name: str | None = None, local_part: str | None = None) -> Signup:
        return await self._client._run(
            calls.signup(self._credentials, name=name, local_part=local_part)
        )


class AsyncInboxes(_AsyncResource):
    async def create(
        self, *, local_part: str | None = None, display_name: str | None = None
    ) -> Inbox:
        return await self._client._run(
            calls.create_inbox(self._credentials, local_part=local_part, display_name=display_name)
        )

    async def list(self) -> list[Inbox]:
        return await self._client._run(calls.list_inboxes(self._credentials))

    async def get(self, inbox_id: str) -> Inbox:
        return await self._client._run(calls.get_inbox(self._credentials, inbox_id))

    async def create_key(self, inbox_id: str, *, label: str | None = None) -> InboxKey:
        return await self._client._run(
            calls.create_inbox_key(self._credentials, inbox_id, label=label)
        )


class AsyncMessages(_AsyncResource):
    async def list(
        self, inbox_id: str, *, limit: int = 50, cursor: str | None = None, folder: Folder = "inbox"
    ) -> MessagePage:
        return await self._client._run(
            calls.list_messages(
                self._credentials, inbox_id, limit=limit, cursor=cursor, folder=folder
            )
        )

    def iter(
        self, inbox_id: str, *, folder: Folder = "inbox", page_size: int = 100
    ) -> AsyncIterator[Message]:
        """Every message, newest first: `async for message in d.messages.iter(inbox_id)`."""
        return apaginate(
            lambda cursor: self.list(inbox_id, limit=page_size, cursor=cursor, folder=folder)
        )

    async def get(self, inbox_id: str, message_id: str) -> Message:
        return await self._client._run(calls.get_message(self._credentials, inbox_id, message_id))

    async def raw(self, inbox_id: str, message_id: str) -> bytes:
        return await self._client._run(calls.raw_message(self._credentials, inbox_id, message_id))

    async def wait(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: Since = None,
        from_: str | None = None,
        subject: str | None = None,
        kind: WaitKind = "message",
        folder: Folder = "inbox",
    ) -> WaitResult:
        query = WaitQuery(
            kind=kind, after=after, since=since, from_=from_, subject=subject, folder=folder
        )
        return await self._client._run(
            calls.wait_once(self._credentials, inbox_id, query, timeout=timeout)
        )

    async def wait_for_message(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: Since = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
    ) -> Message:
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        return await self._client._run(
            calls.wait_for_message(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        )


class AsyncArtifacts(_AsyncResource):
    async def list(
        self,
        inbox_id: str,
        *,
        kind: ArtifactKind | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ArtifactPage:
        return await self._client._run(
            calls.list_artifacts(self._credentials, inbox_id, kind=kind, limit=limit, cursor=cursor)
        )

    def iter(
        self, inbox_id: str, *, kind: ArtifactKind | None = None, page_size: int = 100
    ) -> AsyncIterator[Artifact]:
        """Every artifact, newest message first: `async for artifact in ...`."""
        return apaginate(
            lambda cursor: self.list(inbox_id, kind=kind, limit=page_size, cursor=cursor)
        )


class AsyncOtpResource(_AsyncResource):
    async def latest(self, inbox_id: str) -> Otp | None:
        return await self._client._run(calls.latest_otp(self._credentials, inbox_id))

    async def wait_for_otp(
        self,
        inbox_id: str,
        *,
        timeout: float = 30,
        after: str | None = None,
        since: Since = None,
        from_: str | None = None,
        subject: str | None = None,
        folder: Folder = "inbox",
    ) -> str:
        query = WaitQuery(after=after, since=since, from_=from_, subject=subject, folder=folder)
        return await self._client._run(
            calls.wait_for_otp(self._credentials, self._waits, inbox_id, query, timeout=timeout)
        )
