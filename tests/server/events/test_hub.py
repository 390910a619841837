"""The hub and the waits it wakes: arrivals matched in memory, the database as the fallback,
cursor order, and the key check that a wait in memory still makes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from dispatch_server.auth.api_keys import active_among
from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import Unauthorized
from dispatch_server.core.pagination import Cursor
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import messages, waits, workspaces
from dispatch_server.events.hub import Arrival, Hub, inboxes_with_mail_since
from dispatch_server.events.keys import ActiveKeys
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.services import Services
from tests.conftest import make_settings
from tests.helpers import make_mail

pytestmark = pytest.mark.anyio

LONG_AGO = utcnow() - timedelta(days=3650)


class CountingDatabase:
    """The test's database, counting the looks that waits make, the key checks and the hub's
    rechecks."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.reads = 0
        self.key_checks = 0
        self.rechecks = 0
        self.on_commit = db.on_commit

    async def run_read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if fn is active_among:
            self.key_checks += 1
        elif fn is inboxes_with_mail_since:
            self.rechecks += 1
        else:
            self.reads += 1
        return await self.db.run_read(fn, *args, **kwargs)

    async def run_write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.db.run_write(fn, *args, **kwargs)


@pytest.fixture
async def inbox(services: Services) -> workspaces.Signup:
    signup: workspaces.Signup = await services.db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part="bot"
    )
    return signup


def key_id(signup: workspaces.Signup) -> str:
    return signup.inbox_key.partition(".")[0]


def a_wait(**overrides: Any) -> waits.WaitFilter:
    fields: dict[str, Any] = {
        "kind": "message",
        "folder": "inbox",
        "after": None,
        "since": utcnow(),
        "from_contains": None,
        "subject_contains": None,
    }
    fields.update(overrides)
    return waits.WaitFilter(**fields)


async def deliver(services: Services, text: str = "Your code is 314159", **mail: Any) -> str:
    raw = make_mail("bot@dispatch.test", text=text, **mail)
    result = await ingest(services, raw, Envelope(("bot@dispatch.test",)))
    return result.deliveries[0].message_id


async def never_gone() -> bool:
    return False


async def open_wait(
    services: Services,
    signup: workspaces.Signup,
    wait: waits.WaitFilter,
    seconds: float = 10,
    caller_gone: Callable[[], Awaitable[bool]] = never_gone,
) -> asyncio.Task[waits.WaitOutcome]:
    """A wait that has made its first look and is subscribed."""
    task = asyncio.create_task(
        waits.wait_for_match(
            services,
            key_id(signup),
            signup.inbox.id,
            wait,
            seconds=seconds,
            cutoff=LONG_AGO,
            caller_gone=caller_gone,
        )
    )
    await asyncio.sleep(0.2)
    assert not task.done()
    return task


def counting(services: Services) -> tuple[Services, CountingDatabase]:
    db = CountingDatabase(services.db)
    return Services(settings=services.settings, db=db, hub=services.hub), db  # type: ignore[arg-type]


async def test_the_stored_message_is_what_reading_it_back_gives(
    services: Services, inbox: workspaces.Signup
) -> None:
    raw = make_mail(
        "bot@dispatch.test",
        subject="Sign in",
        text="Your code is 271828, or open https://acme.test/verify?t=1",
        html='<p>Code <b>271828</b> <a href="https://acme.test/verify?t=1">verify</a></p>',
        headers={"Cc": "Ops <ops@acme.test>"},
    )
    [delivery] = (await ingest(services, raw, Envelope(("bot@dispatch.test",)))).deliveries
    read_back = await services.db.run_read(
        messages.get_message, inbox.inbox.id, delivery.message_id, cutoff=LONG_AGO
    )
    assert delivery.stored == read_back
    assert read_back.otp is not None and read_back.link is not None


async def test_a_waiter_matches_the_arrival_in_memory(
    services: Services, inbox: workspaces.Signup
) -> None:
    services, db = counting(services)
    task = await open_wait(services, inbox, a_wait(kind="otp"))
    assert db.reads == 1  # the first look
    delivered = await deliver(services)
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == delivered
    assert outcome.arrival is not None and outcome.arrival.found is outcome.match
    assert db.reads == 1 and db.key_checks == 0  # answered without reading again


async def test_arrivals_that_do_not_match_are_passed_over_in_memory(
    services: Services, inbox: workspaces.Signup
) -> None:
    services, db = counting(services)
    task = await open_wait(services, inbox, a_wait(kind="otp", subject_contains="sign-in"))
    await deliver(services, subject="Weekly news", text="nothing to see")
    await deliver(services, subject="Your sign-in", text="no code here")
    await asyncio.sleep(0.1)
    assert not task.done() and db.reads == 1
    delivered = await deliver(services, subject="Your SIGN-IN code")
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == delivered


async def test_a_wake_up_without_the_message_falls_back_to_the_database(
    services: Services, inbox: workspaces.Signup
) -> None:
    """As for another process's ingest: the mail is committed, and only the inbox id comes."""
    services, db = counting(services)
    task = await open_wait(services, inbox, a_wait(kind="otp"))
    elsewhere = Services(settings=services.settings, db=services.db, hub=Hub())
    delivered = await deliver(elsewhere)
    await asyncio.sleep(0.1)
    assert not task.done()  # the other hub woke nobody here
    services.hub.publish_local(inbox.inbox.id)
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == delivered
    assert outcome.arrival is None and db.reads == 2


async def test_a_filter_the_database_may_compare_differently_falls_back(
    services: Services, inbox: workspaces.Signup
) -> None:
    services, db = counting(services)
    task = await open_wait(services, inbox, a_wait(subject_contains="código"))
    delivered = await deliver(services, subject="Tu código", text="hola")
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == delivered
    assert outcome.arrival is None and db.reads == 2  # judged by the database


async def test_after_a_cursor_the_oldest_new_message_comes_first_and_none_is_skipped(
    services: Services, inbox: workspaces.Signup
) -> None:
    start = Cursor("message", utcnow(), "")
    task = await open_wait(services, inbox, a_wait(after=start))
    # Two commits before the waiter runs again: it must answer the older one.
    raws = [make_mail("bot@dispatch.test", subject=s) for s in ("first", "second")]
    results = await asyncio.gather(
        *(ingest(services, raw, Envelope(("bot@dispatch.test",))) for raw in raws)
    )
    first, second = sorted(
        (r.deliveries[0].stored for r in results),
        key=lambda m: (m.message.received_at, m.message.id),  # type: ignore[union-attr]
    )
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == first.message.id  # type: ignore[union-attr]
    # The next wait, from the answer's cursor, gets the second (from the database: it is there).
    found = outcome.match.message
    following = await open_wait_or_answer(
        services, inbox, a_wait(after=Cursor("message", found.received_at, found.id))
    )
    assert following.match is not None
    assert following.match.message.id == second.message.id  # type: ignore[union-attr]


async def open_wait_or_answer(
    services: Services, signup: workspaces.Signup, wait: waits.WaitFilter
) -> waits.WaitOutcome:
    return await waits.wait_for_match(
        services,
        key_id(signup),
        signup.inbox.id,
        wait,
        seconds=1,
        cutoff=LONG_AGO,
        caller_gone=never_gone,
    )


def arrival(received_offset: float, message_id: str, **message: Any) -> Arrival:
    fields: dict[str, Any] = {
        "id": message_id,
        "inbox_id": "inbox",
        "from_header": "Acme <no-reply@acme.test>",
        "from_address": "no-reply@acme.test",
        "to_addresses": (),
        "cc_addresses": (),
        "subject": "Hello",
        "text_body": "hi",
        "html_body": None,
        "message_id_header": None,
        "folder": "inbox",
        "size_bytes": 1,
        "received_at": NOW + timedelta(seconds=received_offset),
        "attachments": (),
    }
    fields.update(message)
    return Arrival(messages.MessageWithArtifacts(message=messages.Message(**fields), artifacts=()))


NOW = utcnow()


def test_in_memory_matching_keeps_cursor_order() -> None:
    older, newer = arrival(1, "b"), arrival(2, "a")
    cursor = Cursor("message", NOW + timedelta(seconds=1), "a")
    # after a cursor: the oldest match after it, never one at or before it
    assert waits.match_arrivals(a_wait(after=cursor), [newer, older], cutoff=LONG_AGO) is older
    at_cursor = arrival(1, "a")
    assert waits.match_arrivals(a_wait(after=cursor), [at_cursor], cutoff=LONG_AGO) is None
    # since a time: the newest match, none older than the time
    since = a_wait(since=NOW + timedelta(seconds=1))
    assert waits.match_arrivals(since, [older, newer], cutoff=LONG_AGO) is newer
    assert waits.match_arrivals(since, [arrival(0.5, "c")], cutoff=LONG_AGO) is None


def test_in_memory_matching_applies_every_filter() -> None:
    early = a_wait(since=LONG_AGO)
    spam = arrival(1, "s", folder="spam")
    assert waits.match_arrivals(early, [spam], cutoff=LONG_AGO) is None
    assert (
        waits.match_arrivals(a_wait(since=LONG_AGO, folder="all"), [spam], cutoff=LONG_AGO) is spam
    )
    plain = arrival(1, "p", subject=None, from_header=None)
    assert (
        waits.match_arrivals(a_wait(since=LONG_AGO, kind="otp"), [plain], cutoff=LONG_AGO) is None
    )
    assert (
        waits.match_arrivals(a_wait(since=LONG_AGO, subject_contains="x"), [plain], cutoff=LONG_AGO)
        is None
    )
    assert waits.match_arrivals(
        a_wait(since=LONG_AGO, from_contains="ACME.test"), [arrival(1, "f")], cutoff=LONG_AGO
    )
    assert (
        waits.match_arrivals(early, [arrival(1, "old")], cutoff=NOW + timedelta(seconds=5)) is None
    )
    with pytest.raises(waits.Undecided):
        waits.match_arrivals(
            a_wait(since=LONG_AGO, subject_contains="hello"),
            [arrival(1, "u", subject="Héllo hello")],
            cutoff=LONG_AGO,
        )


async def test_a_key_revoked_here_sees_no_arrival(
    services: Services, inbox: workspaces.Signup
) -> None:
    task = await open_wait(services, inbox, a_wait(kind="otp"))
    services.hub.keys.revoked(key_id(inbox))
    await deliver(services)
    with pytest.raises(Unauthorized):
        await asyncio.wait_for(task, 5)


async def test_a_key_revoked_elsewhere_is_refused_once_its_confirmation_is_old(
    services: Services, inbox: workspaces.Signup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ActiveKeys, "CONFIRMED_FOR", 0.3)
    task = await open_wait(services, inbox, a_wait(kind="otp"))
    await services.db.run_write(
        lambda conn: conn.execute(
            sa.update(t.api_keys)
            .where(t.api_keys.c.id == key_id(inbox))
            .values(revoked_at=utcnow())
        )
    )
    await asyncio.sleep(0.3)
    await deliver(services)
    with pytest.raises(Unauthorized):
        await asyncio.wait_for(task, 5)


async def test_keys_asked_together_are_checked_in_one_read(
    services: Services, inbox: workspaces.Signup
) -> None:
    services, db = counting(services)
    keys = ActiveKeys()
    await asyncio.gather(
        *(keys.require_active(services.db, key_id(inbox)) for _ in range(50)),
        keys.require_active(services.db, inbox.account_key.partition(".")[0]),
    )
    assert db.key_checks == 1
    await keys.require_active(services.db, key_id(inbox))  # confirmed just now: no read
    assert db.key_checks == 1
    with pytest.raises(Unauthorized):
        await keys.require_active(services.db, "00000000-0000-0000-0000-000000000000")


async def test_the_keys_of_open_waits_are_confirmed_in_the_background(
    services: Services, inbox: workspaces.Signup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a herd woken together answers without waiting for a key check."""
    monkeypatch.setattr(ActiveKeys, "CONFIRMED_FOR", 0.2)
    services, db = counting(services)
    task = await open_wait(services, inbox, a_wait(kind="otp"))
    await asyncio.sleep(0.5)  # the first look's confirmation is stale by now
    assert db.key_checks >= 2  # the refresh, every 0.1 s, in one query for all keys
    checks = db.key_checks
    services.hub.publish_local(inbox.inbox.id)  # nothing new: the wait looks and goes on
    await asyncio.sleep(0.05)
    delivered = await deliver(services)
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == delivered
    assert db.key_checks <= checks + 1  # at most the refresh's next round
    assert services.hub.keys._refreshing is None  # no open wait: no refresh


async def test_the_recheck_wakes_waiters_whose_wake_up_never_came(
    services: Services, inbox: workspaces.Signup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mail committed without a wake-up here (another process on SQLite, a lost
    notification) is found by the hub's recheck, one query for every inbox waited on."""
    services = Services(
        settings=make_settings(services.db.url, DISPATCH_WAIT_RECHECK_SECONDS=0.2),
        db=services.db,
        hub=services.hub,
    )
    services, db = counting(services)
    task = await open_wait(services, inbox, a_wait(kind="otp"))
    elsewhere = Services(settings=services.settings, db=services.db, hub=Hub())
    delivered = await deliver(elsewhere)
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == delivered
    assert db.reads == 2  # the first look, and the one the recheck's wake-up asked for
    assert db.rechecks >= 1
    assert services.hub._rechecking is None  # no open wait: no recheck


async def test_after_a_cursor_an_older_commit_of_another_process_comes_first(
    services: Services, inbox: workspaces.Signup
) -> None:
    """Another process shares the database (an SMTP process on the same SQLite file, or one
    whose NOTIFY comes late): its mail committed before this process's arrival must be the
    answer of a wait after a cursor, not skipped for the arrival in hand."""
    start = Cursor("message", utcnow(), "")
    task = await open_wait(services, inbox, a_wait(after=start))
    elsewhere = Services(settings=services.settings, db=services.db, hub=Hub())
    older = await deliver(elsewhere, subject="from the other process")
    newer = await deliver(services, subject="from this process")
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.match is not None and outcome.match.message.id == older
    following = await open_wait_or_answer(
        services,
        inbox,
        a_wait(after=Cursor("message", outcome.match.message.received_at, older)),
    )
    assert following.match is not None and following.match.message.id == newer


async def test_a_caller_that_left_is_noticed_within_a_recheck_interval(
    database_url: str, inbox: workspaces.Signup, services: Services
) -> None:
    """A long poll whose client hung up ends by the next recheck, not at its timeout."""
    quick = Services(
        settings=make_settings(database_url, DISPATCH_WAIT_RECHECK_SECONDS=0.2),
        db=services.db,
        hub=services.hub,
    )
    gone = False

    async def caller_gone() -> bool:
        return gone

    task = await open_wait(quick, inbox, a_wait(), seconds=60, caller_gone=caller_gone)
    gone = True
    outcome = await asyncio.wait_for(task, 2)
    assert outcome.match is None


async def test_an_ingest_whose_caller_left_still_wakes_the_waiters(
    services: Services, inbox: workspaces.Signup
) -> None:
    """An SMTP client that hangs up after its final dot cancels the ingest's caller, but not
    the commit: the waiters must hear of it then, not at the next recheck."""
    task = await open_wait(services, inbox, a_wait())
    leaving = asyncio.create_task(
        ingest(
            services,
            make_mail("bot@dispatch.test", subject="left"),
            Envelope(("bot@dispatch.test",)),
        )
    )
    await asyncio.sleep(0)  # the write is queued
    leaving.cancel()
    outcome = await asyncio.wait_for(task, 2)  # the recheck would come after 5 s
    assert outcome.match is not None and outcome.match.message.subject == "left"


async def open_answering_wait(
    services: Services,
    signup: workspaces.Signup,
    wait: waits.WaitFilter,
    answered: list[tuple[int, Arrival]],
    number: int,
) -> asyncio.Task[waits.WaitOutcome]:
    """A wait that answers at once (as the API's does), noting the order it answered in."""

    def answer_now(arrival: Arrival) -> bool:
        answered.append((number, arrival))
        return True

    return asyncio.create_task(
        waits.wait_for_match(
            services,
            key_id(signup),
            signup.inbox.id,
            wait,
            seconds=10,
            cutoff=LONG_AGO,
            caller_gone=never_gone,
            answer_now=answer_now,
        )
    )


async def test_a_herd_is_answered_at_once_in_the_order_it_came(
    services: Services, inbox: workspaces.Signup
) -> None:
    answered: list[tuple[int, Arrival]] = []
    tasks = []
    for number in range(20):
        tasks.append(await open_answering_wait(services, inbox, a_wait(), answered, number))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    delivered = await deliver(services)
    assert answered == []  # not before the ingest's caller has its answer
    await asyncio.sleep(0)
    # All in the hub's next turn, before any waiter's task ran, first come first served.
    assert [number for number, _ in answered] == list(range(20))
    assert not any(task.done() for task in tasks)
    outcomes = await asyncio.gather(*tasks)
    assert all(o.answered and o.match and o.match.message.id == delivered for o in outcomes)


async def test_a_key_not_known_valid_is_left_to_the_wait_to_check(
    services: Services, inbox: workspaces.Signup
) -> None:
    answered: list[tuple[int, Arrival]] = []
    task = await open_answering_wait(services, inbox, a_wait(), answered, 0)
    await asyncio.sleep(0.2)
    services.hub.keys.revoked(key_id(inbox))
    await deliver(services)
    with pytest.raises(Unauthorized):
        await asyncio.wait_for(task, 5)
    assert answered == []


async def test_what_cannot_be_judged_in_memory_is_not_answered_at_once(
    services: Services, inbox: workspaces.Signup
) -> None:
    answered: list[tuple[int, Arrival]] = []
    task = await open_answering_wait(
        services, inbox, a_wait(subject_contains="código"), answered, 0
    )
    await asyncio.sleep(0.2)
    delivered = await deliver(services, subject="Tu código")
    outcome = await asyncio.wait_for(task, 5)
    assert answered == [] and not outcome.answered  # the database decided
    assert outcome.match is not None and outcome.match.message.id == delivered


async def test_a_second_arrival_before_the_hubs_turn_goes_to_the_wait_with_the_first(
    services: Services, inbox: workspaces.Signup
) -> None:
    older = messages.MessageWithArtifacts  # two stored messages, published in one turn
    stored = []
    for code in ("271828", "161803"):
        raw = make_mail("bot@dispatch.test", text=f"Your code is {code}")
        [delivery] = (await ingest(services, raw, Envelope(("bot@dispatch.test",)))).deliveries
        assert isinstance(delivery.stored, older)
        stored.append(delivery.stored)
    answered: list[tuple[int, Arrival]] = []
    task = await open_answering_wait(services, inbox, a_wait(), answered, 0)
    await asyncio.sleep(0.2)
    now = utcnow()
    first, second = (
        attrs.evolve(
            found, message=attrs.evolve(found.message, received_at=now + timedelta(seconds=n))
        )
        for n, found in enumerate(stored, start=1)
    )
    services.hub.publish_local(inbox.inbox.id, first)
    services.hub.publish_local(inbox.inbox.id, second)
    # Both came before the hub's turn: the wait judges them together, and takes the newest.
    outcome = await asyncio.wait_for(task, 5)
    assert answered == [] and not outcome.answered
    assert outcome.match is second
