"""Threads (dispatch_server.domain.threads) on both databases: how mail finds its thread
(In-Reply-To, References, its own Message-ID for a parent that arrives after its reply, the
subject only without threading headers and only recently), what is never threaded, and the
listing's counts, order and pages; hostile headers (thousands of references, malformed and
non-ASCII ids, huge and unicode subjects) thread without error."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import NotFound
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import retention, threads, workspaces
from dispatch_server.domain.inboxes import Inbox
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.mail.verdicts import Verdicts
from dispatch_server.services import Services
from tests.helpers import make_mail


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        ("Hello", "hello"),
        ("Re: Hello", "hello"),
        ("RE: Fwd: re:  Hello   world ", "hello world"),
        ("AW: WG: Angebot", "angebot"),
        ("SV: VS: Tilbud", "tilbud"),
        ("Re[2]: Re(3): Hi", "hi"),
        ("回复：会议", "会议"),
        ("答复: 转发: 会议", "会议"),
        ("Ответ: Пересл: Привет", "привет"),
        ("RIF: I: Offerta", "offerta"),
        ("Odp: PD: Oferta", "oferta"),
        ("TR: RE: Devis", "devis"),
        ("Réunion", "réunion"),
        ("Regarding: this", "regarding: this"),  # no prefix: a word that starts like one
        ("Re:", None),
        ("", None),
        (None, None),
        ("   ", None),
    ],
)
def test_subject_keys_drop_reply_and_forward_prefixes(subject: str | None, key: str | None) -> None:
    assert threads.subject_key(subject) == key


def test_a_subject_key_is_bounded() -> None:
    key = threads.subject_key("Re: " + "ä" * 100_000)
    assert key is not None and len(key) == threads.SUBJECT_KEY_CHARS


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        ("Re" + " " * 200_000 + "x", "re x"),  # minutes for a backtracking prefix pattern
        ("Re" + " " * 100_000 + "[2]" + " " * 100_000 + "x", "re [2] x"),
        ("Re: " * 100_000 + "x", "x"),  # a prefix after a prefix, never copying the rest
        ("Re[2]" + "\t" * 100_000 + ":" + " y", "y"),
    ],
)
def test_adversarial_subjects_key_in_linear_time(subject: str, key: str) -> None:
    assert threads.subject_key(subject) == key


def test_only_well_formed_msg_ids_are_looked_up() -> None:
    headers = threads.Headers(
        message_id="<own@x>",
        in_reply_to="no brackets",
        references=("<a@x>", "<b@x>", "<bad id@x>", "<ü@x>", "<a@x>"),
    )
    assert headers.wanted == ["<a@x>", "<b@x>", "<own@x>"]  # the newest first, once


# --- on the databases ----------------------------------------------------------------------

pytestmark = pytest.mark.anyio


async def new_inbox(db: Database, local_part: str) -> Inbox:
    result = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=local_part
    )
    return result.inbox


async def deliver(
    services: Services,
    inbox: Inbox,
    *,
    message_id: str | None = None,
    subject: str = "Hello",
    in_reply_to: str | None = None,
    references: str | None = None,
    sender: str = "Ann <ann@acme.test>",
    verdicts: Verdicts | None = None,
    raw: bytes | None = None,
) -> str:
    """Deliver one message; the id of the thread it got (None: not threaded)."""
    headers = {}
    if in_reply_to is not None:
        headers["In-Reply-To"] = in_reply_to
    if references is not None:
        headers["References"] = references
    raw = raw or make_mail(
        inbox.address, subject=subject, message_id=message_id, sender=sender, headers=headers
    )
    envelope = Envelope((inbox.address,), door="webhook", verdicts=verdicts or Verdicts())
    result = await ingest(services, raw, envelope)
    message_id_ = result.deliveries[0].message_id
    thread_id: str = await services.db.run_read(
        lambda conn: conn.scalar(
            sa.select(t.messages.c.thread_id).where(t.messages.c.id == message_id_)
        )
    )
    return thread_id


async def test_replies_join_by_in_reply_to_and_references(services: Services) -> None:
    inbox = await new_inbox(services.db, "threads-replies")
    first = await deliver(services, inbox, message_id="<a@acme.test>")
    reply = await deliver(services, inbox, message_id="<b@acme.test>", in_reply_to="<a@acme.test>")
    # Only References, the newest known one deciding; an unknown id in them is no obstacle.
    later = await deliver(
        services,
        inbox,
        message_id="<c@acme.test>",
        references="<a@acme.test> <b@acme.test> <unknown@acme.test>",
    )
    other = await deliver(services, inbox, message_id="<z@acme.test>", subject="Other")
    assert first == reply == later
    assert other != first


async def test_in_reply_to_wins_over_references(services: Services) -> None:
    inbox = await new_inbox(services.db, "threads-preference")
    one = await deliver(services, inbox, message_id="<one@acme.test>", subject="One")
    two = await deliver(services, inbox, message_id="<two@acme.test>", subject="Two")
    assert one != two
    joined = await deliver(
        services,
        inbox,
        message_id="<three@acme.test>",
        in_reply_to="<two@acme.test>",
        references="<one@acme.test>",
    )
    assert joined == two


async def test_a_parent_arriving_after_its_replies_joins_their_thread(services: Services) -> None:
    inbox = await new_inbox(services.db, "threads-out-of-order")
    grandchild = await deliver(
        services,
        inbox,
        message_id="<gc@acme.test>",
        subject="Re: Re: Plan",
        in_reply_to="<child@acme.test>",
        references="<root@acme.test> <child@acme.test>",
    )
    root = await deliver(services, inbox, message_id="<root@acme.test>", subject="Plan")
    child = await deliver(
        services, inbox, message_id="<child@acme.test>", in_reply_to="<root@acme.test>"
    )
    assert grandchild == root == child


async def test_the_subject_threads_only_mail_without_headers_and_only_recently(
    services: Services,
) -> None:
    inbox = await new_inbox(services.db, "threads-subject")
    start = await deliver(services, inbox, message_id="<s@acme.test>", subject="Invoice 42")
    assert await deliver(services, inbox, subject="RE:  invoice 42") == start
    # A reply to mail this inbox never saw is no subject match: it names its own parent.
    elsewhere = await deliver(
        services, inbox, subject="Re: Invoice 42", in_reply_to="<never-seen@acme.test>"
    )
    assert elsewhere != start
    # Not after SUBJECT_WINDOW of silence.
    old = utcnow() - threads.SUBJECT_WINDOW - timedelta(days=1)
    await services.db.run_write(
        lambda conn: conn.execute(
            t.threads.update().where(t.threads.c.inbox_id == inbox.id).values(last_activity_at=old)
        )
    )
    assert await deliver(services, inbox, subject="Invoice 42") not in (start, elsewhere)


async def test_mail_outside_the_inbox_folder_and_duplicates_make_no_thread(
    services: Services,
) -> None:
    inbox = await new_inbox(services.db, "threads-spam")
    spam = Verdicts(spam="fail")
    assert await deliver(services, inbox, message_id="<spam@acme.test>", verdicts=spam) is None
    first = await deliver(services, inbox, message_id="<dup@acme.test>")
    raw = make_mail(inbox.address, message_id="<dup@acme.test>")
    envelope = Envelope((inbox.address,), door="webhook", provider_message_id="same")
    await ingest(services, raw, envelope)
    again = await ingest(services, raw, envelope)
    assert again.deliveries[0].duplicate
    count = await services.db.run_read(
        lambda conn: conn.scalar(sa.select(sa.func.count()).where(t.threads.c.inbox_id == inbox.id))
    )
    assert count == 1  # the second copy (another dedupe key) has the same Message-ID
    assert first is not None


async def test_hostile_headers_thread_without_error(services: Services) -> None:
    inbox = await new_inbox(services.db, "threads-hostile")
    root = await deliver(services, inbox, message_id="<root@acme.test>", subject="Root")
    many = " ".join(f"<r{i}@acme.test>" for i in range(5000))
    # Only the newest MAX_REFERENCES references count: the root is far back, so no match.
    far = await deliver(services, inbox, references=f"<root@acme.test> {many}")
    assert far != root
    near = await deliver(services, inbox, references=f"{many} <root@acme.test>")
    assert near == root
    for odd in ("<ü@acme.test>", "no-brackets@acme.test", "<" + "x" * 990 + ">", "<>", "\x00"):
        raw = (
            f"From: ann@acme.test\r\nTo: {inbox.address}\r\nSubject: Odd\r\n"
            f"Message-ID: {odd}\r\nIn-Reply-To: {odd}\r\nReferences: {odd} {odd}\r\n\r\nhi\r\n"
        ).encode()
        assert await deliver(services, inbox, raw=raw) is not None
    assert await deliver(services, inbox, subject="Re: " + "ü" * 50_000) is not None
    refs = await services.db.run_read(
        lambda conn: conn.scalar(
            sa.select(sa.func.max(sa.func.length(t.thread_refs.c.message_id_header)))
        )
    )
    assert refs <= 902


async def test_listing_counts_orders_and_pages(services: Services) -> None:
    db = services.db
    inbox = await new_inbox(db, "threads-listing")
    cutoff = utcnow() - timedelta(days=30)
    older = await deliver(services, inbox, message_id="<o@acme.test>", subject="Older")
    newer = await deliver(services, inbox, message_id="<n@acme.test>", subject="Newer")
    await deliver(
        services,
        inbox,
        message_id="<o2@acme.test>",
        subject="Re: Older",
        in_reply_to="<o@acme.test>",
        sender="Bob <bob@acme.test>",
    )
    first = await db.run_read(threads.list_threads, inbox.id, limit=1, cursor=None, cutoff=cutoff)
    assert [s.id for s in first.items] == [older]
    summary = first.items[0]
    assert (summary.message_count, summary.unread_count) == (2, 2)
    assert summary.subject == "Older"
    assert summary.latest.subject == "Re: Older"
    assert summary.participants == ("bob@acme.test", "ann@acme.test")
    assert first.next_cursor is not None
    second = await db.run_read(
        threads.list_threads, inbox.id, limit=1, cursor=first.next_cursor, cutoff=cutoff
    )
    assert [s.id for s in second.items] == [newer] and second.next_cursor is None
    # Read mail is no longer counted unread.
    await db.run_write(
        lambda conn: conn.execute(
            t.messages.update().where(t.messages.c.thread_id == older).values(read_at=utcnow())
        )
    )
    thread = await db.run_read(threads.get_thread, inbox.id, older, cutoff=cutoff)
    assert thread.summary.unread_count == 0
    assert [m.subject for m in thread.messages] == ["Older", "Re: Older"]
    assert [m.direction for m in thread.messages] == ["received", "received"]


async def test_a_restricted_reader_sees_only_its_senders_mail(services: Services) -> None:
    db = services.db
    inbox = await new_inbox(db, "threads-restricted")
    cutoff = utcnow() - timedelta(days=30)
    mixed = await deliver(services, inbox, message_id="<m@acme.test>", subject="Mixed")
    await deliver(
        services,
        inbox,
        message_id="<m2@other.test>",
        in_reply_to="<m@acme.test>",
        sender="Eve <eve@other.test>",
    )
    hidden = await deliver(
        services, inbox, message_id="<h@other.test>", subject="Hidden", sender="eve@other.test"
    )
    senders = ("*@acme.test",)
    found = await db.run_read(
        threads.list_threads, inbox.id, limit=50, cursor=None, cutoff=cutoff, senders=senders
    )
    assert [s.id for s in found.items] == [mixed]
    assert found.items[0].message_count == 1
    assert "eve@other.test" not in found.items[0].participants
    with pytest.raises(NotFound):
        await db.run_read(threads.get_thread, inbox.id, hidden, cutoff=cutoff, senders=senders)
    thread = await db.run_read(threads.get_thread, inbox.id, mixed, cutoff=cutoff, senders=senders)
    assert [m.from_address for m in thread.messages] == ["ann@acme.test"]


async def test_another_inboxs_thread_and_malformed_ids_are_not_found(services: Services) -> None:
    db = services.db
    mine = await new_inbox(db, "threads-mine")
    theirs = await new_inbox(db, "threads-theirs")
    cutoff = utcnow() - timedelta(days=30)
    their_thread = await deliver(services, theirs, message_id="<t@acme.test>")
    for thread_id in (their_thread, "", "x" * 10_000, "ü", "a\x00b", "../x", "%00"):
        with pytest.raises(NotFound):
            await db.run_read(threads.get_thread, mine.id, thread_id, cutoff=cutoff)


async def test_the_retention_purge_removes_idle_threads_and_their_ids(services: Services) -> None:
    db = services.db
    inbox = await new_inbox(db, "threads-purge")
    idle = await deliver(services, inbox, message_id="<idle@acme.test>", subject="Idle")
    active = await deliver(services, inbox, message_id="<active@acme.test>", subject="Active")
    cutoff = utcnow() - timedelta(days=1)
    await db.run_write(
        lambda conn: conn.execute(
            t.threads.update()
            .where(t.threads.c.id == idle)
            .values(last_activity_at=cutoff - timedelta(days=1))
        )
    )
    await db.run_write(retention.purge_records, cutoff)
    left = await db.run_read(
        lambda conn: (
            sorted(conn.scalars(sa.select(t.threads.c.id))),
            sorted(conn.scalars(sa.select(t.thread_refs.c.thread_id))),
        )
    )
    assert left == ([active], [active])


class _ThenMoved:
    """A connection on which, right after the first statement, a message moves thread: mail
    a concurrent ingest commits between two statements at read committed."""

    def __init__(self, conn: sa.Connection, message_id: str, thread_id: str) -> None:
        self._conn, self._move, self.statements = conn, (message_id, thread_id), 0

    def execute(self, *args: object, **kwargs: object) -> object:
        result = self._conn.execute(*args, **kwargs)  # type: ignore[call-overload]
        self.statements += 1
        if self.statements == 1:
            message_id, thread_id = self._move
            self._conn.execute(
                t.messages.update().where(t.messages.c.id == message_id).values(thread_id=thread_id)
            )
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


async def test_summaries_are_one_snapshot_whatever_arrives_meanwhile(services: Services) -> None:
    """Counts, first and newest messages come from one statement: a thread whose first mail
    arrives during the listing is in all of them or in none (no KeyError, no 500)."""
    db = services.db
    inbox = await new_inbox(db, "threads-snapshot")
    cutoff = utcnow() - timedelta(days=30)
    one = await deliver(services, inbox, message_id="<one@acme.test>", subject="One")
    two = await deliver(services, inbox, message_id="<two@acme.test>", subject="Two")
    moving = await db.run_read(
        lambda conn: conn.scalar(sa.select(t.messages.c.id).where(t.messages.c.thread_id == two))
    )
    await db.run_write(  # thread two empty for now: its mail is still arriving
        lambda conn: conn.execute(
            t.messages.update().where(t.messages.c.id == moving).values(thread_id=one)
        )
    )

    def summaries(conn: sa.Connection) -> dict[str, threads.ThreadSummary]:
        reader = threads._reader(conn, inbox.id, cutoff=cutoff, senders=None)
        moved = _ThenMoved(conn, moving, two)
        return threads._summaries(moved, reader, [one, two])  # type: ignore[arg-type]

    found = await db.run_write(summaries)
    assert {k: v.message_count for k, v in found.items()} == {one: 2}
    page = await db.run_read(threads.list_threads, inbox.id, limit=10, cursor=None, cutoff=cutoff)
    assert sorted((s.id, s.message_count) for s in page.items) == sorted([(one, 1), (two, 1)])


async def test_a_thread_purged_between_plan_and_record_is_made_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retention purge deletes an idle thread after an ingest read it from thread_refs:
    the reply is stored all the same (no foreign-key failure), in a thread that exists, and
    the next reply joins it."""
    db = services.db
    inbox = await new_inbox(db, "threads-purged-meanwhile")
    parent = await deliver(services, inbox, message_id="<parent@acme.test>", subject="P")
    plan = threads.plan

    def purged_meanwhile(conn: sa.Connection, *args: object, **kwargs: object) -> threads.Plan:
        planned = plan(conn, *args, **kwargs)  # type: ignore[arg-type]
        conn.execute(t.threads.delete().where(t.threads.c.id == planned.thread_id))
        return planned

    monkeypatch.setattr(threads, "plan", purged_meanwhile)
    reply = await deliver(
        services, inbox, message_id="<reply@acme.test>", in_reply_to="<parent@acme.test>"
    )
    monkeypatch.setattr(threads, "plan", plan)
    assert reply == parent
    later = await deliver(
        services, inbox, message_id="<later@acme.test>", in_reply_to="<reply@acme.test>"
    )
    assert later == parent
    left = await db.run_read(
        lambda conn: (
            list(conn.scalars(sa.select(t.threads.c.id).where(t.threads.c.inbox_id == inbox.id))),
            sorted(
                conn.scalars(
                    sa.select(t.thread_refs.c.message_id_header).where(
                        t.thread_refs.c.thread_id == parent
                    )
                )
            ),
        )
    )
    assert left == ([parent], ["<later@acme.test>", "<reply@acme.test>"])
