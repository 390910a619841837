"""Pages of list results, iterable across pages: `for item in d.messages.list(inbox_id)`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Generic, TypeVar

import attrs

from dispatch_client._errors import DispatchError

T = TypeVar("T")

__all__ = ["AsyncPage", "AsyncPaginator", "SyncPage"]


def _no_next_page() -> DispatchError:
    return DispatchError("this is the last page: check page.has_next_page() first")


@attrs.frozen(kw_only=True)
class SyncPage(Generic[T]):
    """One page of a list, from the sync client.

    Iterating over it yields every item of this page and of the pages after it, fetching
    each next page when you reach it. `data` is this page's items; `next_cursor` the
    `cursor=` of the next page (None on the last).
    """

    data: tuple[T, ...]
    next_cursor: str | None
    _fetch: Callable[[str], SyncPage[T]] = attrs.field(alias="fetch", eq=False, repr=False)

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.data

    def has_next_page(self) -> bool:
        """Whether there is a page after this one."""
        return bool(self.data) and self.next_cursor is not None

    def get_next_page(self) -> SyncPage[T]:
        """Fetch the page after this one (same filters and `limit`).

        Raises:
            DispatchError: this is the last page.
        """
        if not self.has_next_page() or self.next_cursor is None:
            raise _no_next_page()
        return self._fetch(self.next_cursor)

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        """This page, then each next page, fetched as you go."""
        page = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = page.get_next_page()


@attrs.frozen(kw_only=True)
class AsyncPage(Generic[T]):
    """One page of a list, from the async client: `SyncPage` with awaited fetches.

    `async for item in page` yields every item of this page and of the pages after it.
    """

    data: tuple[T, ...]
    next_cursor: str | None
    _fetch: Callable[[str], Awaitable[AsyncPage[T]]] = attrs.field(
        alias="fetch", eq=False, repr=False
    )

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.data:
                yield item

    def has_next_page(self) -> bool:
        """Whether there is a page after this one."""
        return bool(self.data) and self.next_cursor is not None

    async def get_next_page(self) -> AsyncPage[T]:
        """Fetch the page after this one (same filters and `limit`).

        Raises:
            DispatchError: this is the last page.
        """
        if not self.has_next_page() or self.next_cursor is None:
            raise _no_next_page()
        return await self._fetch(self.next_cursor)

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        """This page, then each next page, fetched as you go."""
        page = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = await page.get_next_page()


class AsyncPaginator(Generic[T]):
    """What an async `list()` returns: await it for the first page, or iterate over it.

    `page = await d.messages.list(inbox_id)` fetches the first page;
    `async for message in d.messages.list(inbox_id)` yields every item of every page.
    Nothing is fetched until then.
    """

    def __init__(self, first_page: Callable[[], Awaitable[AsyncPage[T]]]) -> None:
        self._first_page = first_page

    def __await__(self) -> Generator[object, None, AsyncPage[T]]:
        return self._first_page().__await__()

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await self._first_page()
        async for item in page:
            yield item
