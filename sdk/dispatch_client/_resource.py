"""The base classes of the resources: how a sync or async resource runs its calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from dispatch_client._core import Call, Credentials, PageData, WaitState
from dispatch_client._options import (
    REQUEST_OPTION_NAMES,
    WAIT_OPTION_NAMES,
    RequestOptions,
    WaitOptions,
    call_options,
)
from dispatch_client.pagination import AsyncPage, AsyncPaginator, SyncPage

if TYPE_CHECKING:
    from dispatch_client._client import AsyncDispatch, Dispatch

T = TypeVar("T")
# A list call with its arguments bound but the cursor: the call for one page.
PageCall = Callable[[str | None], Call[PageData[T]]]


class SyncResource:
    def __init__(self, client: Dispatch) -> None:
        self._client = client

    @property
    def _credentials(self) -> Credentials:
        return self._client._credentials

    @property
    def _waits(self) -> WaitState:
        return self._client._waits

    def _run(self, call: Call[T], options: RequestOptions) -> T:
        return self._client._driver.run(call, call_options(self._client._options, options))

    def _run_wait(self, call: Call[T], options: WaitOptions) -> T:
        resolved = call_options(self._client._options, options, WAIT_OPTION_NAMES)
        return self._client._driver.run(call, resolved)

    def _page(
        self, page_call: PageCall[T], cursor: str | None, options: RequestOptions
    ) -> SyncPage[T]:
        """The page at `cursor`, which fetches the next pages with the same options."""
        resolved = call_options(self._client._options, options, REQUEST_OPTION_NAMES)
        driver = self._client._driver

        def load(cursor: str | None) -> SyncPage[T]:
            page = driver.run(page_call(cursor), resolved)
            return SyncPage(data=page.data, next_cursor=page.next_cursor, fetch=load)

        return load(cursor)


class AsyncResource:
    def __init__(self, client: AsyncDispatch) -> None:
        self._client = client

    @property
    def _credentials(self) -> Credentials:
        return self._client._credentials

    @property
    def _waits(self) -> WaitState:
        return self._client._waits

    async def _run(self, call: Call[T], options: RequestOptions) -> T:
        return await self._client._driver.run(call, call_options(self._client._options, options))

    async def _run_wait(self, call: Call[T], options: WaitOptions) -> T:
        resolved = call_options(self._client._options, options, WAIT_OPTION_NAMES)
        return await self._client._driver.run(call, resolved)

    def _paginator(
        self, page_call: PageCall[T], cursor: str | None, options: RequestOptions
    ) -> AsyncPaginator[T]:
        """The page at `cursor` when awaited; its items and the next pages' when iterated."""
        resolved = call_options(self._client._options, options, REQUEST_OPTION_NAMES)
        driver = self._client._driver

        async def load(cursor: str | None) -> AsyncPage[T]:
            page = await driver.run(page_call(cursor), resolved)
            return AsyncPage(data=page.data, next_cursor=page.next_cursor, fetch=load)

        return AsyncPaginator(lambda: load(cursor))
