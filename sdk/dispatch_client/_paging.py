"""Auto-paging: follow `next_cursor` until the last page, for both clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Protocol, TypeVar

Item = TypeVar("Item")
Item_co = TypeVar("Item_co", covariant=True)


class Page(Protocol[Item_co]):
    @property
    def data(self) -> Sequence[Item_co]: ...

    @property
    def next_cursor(self) -> str | None: ...


def paginate(fetch: Callable[[str | None], Page[Item]]) -> Iterator[Item]:
    """Every item of every page; `fetch(cursor)` returns one page (cursor None: the first)."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.data
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def apaginate(fetch: Callable[[str | None], Awaitable[Page[Item]]]) -> AsyncIterator[Item]:
    """`paginate` for the async client."""
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        for item in page.data:
            yield item
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
