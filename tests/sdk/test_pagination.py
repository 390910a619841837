"""Pages: `.data` and `.next_cursor`, and iteration across pages, fetched as needed."""

from __future__ import annotations

import pytest

from dispatch_client import AsyncPage, AsyncPaginator, DispatchError, SyncPage
from tests.sdk.helpers import (
    INBOX_ID,
    MINTED,
    Recorder,
    artifact,
    async_client,
    page,
    summary,
    sync_client,
)


def three_pages() -> Recorder:
    return Recorder(
        page(summary(1), summary(2), cursor="c1"),
        page(summary(3), summary(4), cursor="c2"),
        page(summary(5)),
    )


def test_iterating_a_page_follows_the_cursors() -> None:
    recorder = three_pages()
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    first = client.messages.list(INBOX_ID, limit=2, folder="all")
    assert len(recorder.requests) == 1  # the first page only, until you iterate further
    assert isinstance(first, SyncPage)
    assert [m.id for m in first.data] == ["m1", "m2"] and first.next_cursor == "c1"
    assert [m.id for m in first] == ["m1", "m2", "m3", "m4", "m5"]
    assert [r.url.params.get("cursor") for r in recorder.requests] == [None, "c1", "c2"]
    assert all(r.url.params["limit"] == "2" for r in recorder.requests)
    assert all(r.url.params["folder"] == "all" for r in recorder.requests)


def test_iteration_is_lazy() -> None:
    recorder = three_pages()
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    items = iter(client.messages.list(INBOX_ID, limit=2))
    assert [next(items).id, next(items).id] == ["m1", "m2"]
    assert len(recorder.requests) == 1
    assert next(items).id == "m3"
    assert len(recorder.requests) == 2


def test_pages_one_by_one() -> None:
    recorder = three_pages()
    recorder.answers += three_pages().answers[1:]  # iter_pages below fetches pages 2 and 3 again
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    first = client.messages.list(INBOX_ID, limit=2)
    assert first.has_next_page()
    second = first.get_next_page()
    assert [m.id for m in second.data] == ["m3", "m4"]
    last = second.get_next_page()
    assert (last.next_cursor, last.has_next_page()) == (None, False)
    with pytest.raises(DispatchError, match="last page"):
        last.get_next_page()
    assert [[m.id for m in p.data] for p in first.iter_pages()] == [
        ["m1", "m2"],
        ["m3", "m4"],
        ["m5"],
    ]
    assert len(recorder.requests) == 5  # pages are not cached: a page is a snapshot


def test_an_empty_page_is_the_last_whatever_its_cursor() -> None:
    recorder = Recorder(page(cursor="c1"))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    empty = client.messages.list(INBOX_ID)
    assert (empty.data, empty.has_next_page()) == ((), False)
    assert list(empty) == []
    assert len(recorder.requests) == 1


def test_a_page_starts_at_the_cursor_given() -> None:
    recorder = Recorder(page(summary(3)))
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    assert [m.id for m in client.messages.list(INBOX_ID, cursor="c1")] == ["m3"]
    assert recorder.requests[0].url.params["cursor"] == "c1"


def test_artifact_paging_and_kind_filter() -> None:
    recorder = Recorder(
        page(artifact("link", "https://a.test"), cursor="c1"), page(artifact("link", "https://b"))
    )
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    values = [a.value for a in client.artifacts.list(INBOX_ID, kind="link", limit=1)]
    assert values == ["https://a.test", "https://b"]
    assert recorder.requests[1].url.path == f"/v1/inboxes/{INBOX_ID}/artifacts"
    assert dict(recorder.requests[1].url.params) == {"limit": "1", "kind": "link", "cursor": "c1"}


def test_the_next_pages_are_fetched_with_the_same_options() -> None:
    recorder = three_pages()
    client = sync_client(recorder, inbox_keys={INBOX_ID: MINTED})
    list(client.messages.list(INBOX_ID, limit=2, timeout=4, extra_headers={"X-Trace": "t"}))
    assert [r.headers["x-trace"] for r in recorder.requests] == ["t"] * 3
    assert all(r.extensions["timeout"]["read"] == 4 for r in recorder.requests)


def test_pages_compare_by_their_data() -> None:
    client = sync_client(
        Recorder(page(summary(1)), page(summary(1))), inbox_keys={INBOX_ID: MINTED}
    )
    first, again = client.messages.list(INBOX_ID), client.messages.list(INBOX_ID)
    assert first == again and first is not again
    assert repr(first).startswith("SyncPage(data=(MessageSummary(") and "fetch" not in repr(first)


@pytest.mark.anyio
async def test_async_lists_are_awaited_for_a_page_or_iterated_for_items() -> None:
    recorder = three_pages()
    async with async_client(recorder, inbox_keys={INBOX_ID: MINTED}) as client:
        listing = client.messages.list(INBOX_ID, limit=2)
        assert isinstance(listing, AsyncPaginator)
        assert recorder.requests == []  # nothing is fetched before it is awaited or iterated
        first = await listing
        assert isinstance(first, AsyncPage)
        assert [m.id for m in first.data] == ["m1", "m2"] and first.has_next_page()
        assert [m.id async for m in first] == ["m1", "m2", "m3", "m4", "m5"]
    assert [r.url.params.get("cursor") for r in recorder.requests] == [None, "c1", "c2"]


@pytest.mark.anyio
async def test_async_for_over_a_list_yields_every_item() -> None:
    recorder = three_pages()
    async with async_client(recorder, inbox_keys={INBOX_ID: MINTED}) as client:
        assert [m.id async for m in client.messages.list(INBOX_ID, limit=2)] == [
            "m1",
            "m2",
            "m3",
            "m4",
            "m5",
        ]
    assert len(recorder.requests) == 3


@pytest.mark.anyio
async def test_async_pages_one_by_one() -> None:
    recorder = Recorder(*three_pages().answers, *three_pages().answers)
    async with async_client(recorder, inbox_keys={INBOX_ID: MINTED}) as client:
        first = await client.messages.list(INBOX_ID, limit=2)
        second = await first.get_next_page()
        last = await second.get_next_page()
        assert [m.id for m in last.data] == ["m5"] and not last.has_next_page()
        with pytest.raises(DispatchError, match="last page"):
            await last.get_next_page()
        again = await client.messages.list(INBOX_ID, limit=2)
        sizes = [len(p.data) async for p in again.iter_pages()]
    assert sizes == [2, 2, 1]
