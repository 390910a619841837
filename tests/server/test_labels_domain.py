"""Labels and state (dispatch_server.domain.labels) on both databases: the label name
rules, read and unread, the trash beside the folder (listings, threads' counts), spam moves
with their artifacts (quarantine never moves), user labels (case-insensitive, capped per
message), batches all or nothing (other inboxes' and unknown ids, a restricted key's
senders, memory writes without `memory`), and the label counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, InvalidInput, NotFound
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import labels, messages, threads, workspaces
from dispatch_server.domain.inboxes import Inbox
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.mail.verdicts import Verdicts
from dispatch_server.services import Services
from tests.helpers import make_mail


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "blank"),
        ("   \t ", "blank"),
        ("x" * (labels.MAX_LABEL_CHARS + 1), "at most"),
        ("ü" * (labels.MAX_LABEL_CHARS + 1), "at most"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("bell\x07", "control"),
        ("del\x7f", "control"),
        ("Spam", "system name"),
        ("TRASH", "system name"),
        (" unread ", "system name"),
        ("inbox", "system name"),
    ],
)
def test_bad_label_names_are_refused_naming_the_field(raw: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as caught:
        labels.label_name(raw, "labels.add[0]")
    assert caught.value.param == "labels.add[0]"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("  Urgent  ", "Urgent"),
        ("x" * labels.MAX_LABEL_CHARS, "x" * labels.MAX_LABEL_CHARS),
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # NFC
        ("客户/VIP 🚀", "客户/VIP 🚀"),
        ("spam-ish", "spam-ish"),
    ],
)
def test_good_label_names_are_trimmed_and_normalised(raw: str, name: str) -> None:
    assert labels.label_name(raw, "labels.add[0]") == name


def test_a_change_is_checked() -> None:
    with pytest.raises(InvalidInput) as caught:
        labels.change()
    assert caught.value.param == "labels"
    with pytest.raises(InvalidInput) as caught:
        labels.change(add=["a", "B"], remove=["b"])
    assert caught.value.param == "labels.add[1]"
    with pytest.raises(InvalidInput) as caught:
        labels.change(add=[f"l{i}" for i in range(labels.MAX_LABEL_CHANGES + 1)])
    assert caught.value.param == "labels.add"
    with pytest.raises(InvalidInput) as caught:
        labels.change(remove=["ok", "\x01"])
    assert caught.value.param == "labels.remove[1]"
    assert labels.change(add=["Work", "work", "WORK"]).add == ("Work",)


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
    subject: str = "Hello",
    sender: str = "Ann <ann@acme.test>",
    text: str = "Your code is 123456",
    verdicts: Verdicts | None = None,
) -> str:
    raw = make_mail(inbox.address, subject=subject, sender=sender, text=text)
    envelope = Envelope((inbox.address,), door="webhook", verdicts=verdicts or Verdicts())
    result = await ingest(services, raw, envelope)
    message_id: str = result.deliveries[0].message_id
    return message_id


def cutoff() -> object:
    return utcnow() - timedelta(days=30)


async def apply(
    services: Services,
    inbox: Inbox,
    ids: list[str],
    change: labels.Change,
    *,
    senders: tuple[str, ...] | None = None,
    memory: bool = True,
    ids_param: str | None = "ids",
) -> list[messages.MessageSummary]:
    found: list[messages.MessageSummary] = await services.db.run_write(
        labels.apply,
        inbox.id,
        ids,
        change,
        now=utcnow(),
        cutoff=utcnow() - timedelta(days=30),
        senders=senders,
        memory=memory,
        ids_param=ids_param,
    )
    return found


async def listed(
    services: Services, inbox: Inbox, folder: messages.FolderFilter = "inbox", **filters: object
) -> list[str]:
    page = await services.db.run_read(
        messages.list_messages,
        inbox.id,
        folder=folder,
        limit=100,
        cursor=None,
        cutoff=utcnow() - timedelta(days=30),
        **filters,
    )
    return [summary.id for summary in page.items]


async def test_read_and_unread_keep_the_first_time_and_thread_counts(services: Services) -> None:
    inbox = await new_inbox(services.db, "labels-read")
    one = await deliver(services, inbox)
    [summary] = await apply(services, inbox, [one], labels.change(read=True))
    first = summary.read_at
    assert first is not None and not summary.unread
    [again] = await apply(services, inbox, [one], labels.change(read=True))
    assert again.read_at == first
    assert await listed(services, inbox, unread=True) == []
    assert await listed(services, inbox, unread=False) == [one]
    page = await services.db.run_read(
        threads.list_threads, inbox.id, limit=10, cursor=None, cutoff=utcnow() - timedelta(days=30)
    )
    assert page.items[0].unread_count == 0
    [unread] = await apply(services, inbox, [one], labels.change(read=False))
    assert unread.unread
    page = await services.db.run_read(
        threads.list_threads, inbox.id, limit=10, cursor=None, cutoff=utcnow() - timedelta(days=30)
    )
    assert page.items[0].unread_count == 1


async def test_the_trash_hides_mail_from_its_folder_and_thread(services: Services) -> None:
    inbox = await new_inbox(services.db, "labels-trash")
    kept = await deliver(services, inbox, subject="Kept")
    gone = await deliver(services, inbox, subject="Re: Kept")
    [trashed] = await apply(services, inbox, [gone], labels.change(trash=True))
    assert trashed.trashed_at is not None and trashed.folder == "inbox"
    assert await listed(services, inbox) == [kept]
    assert await listed(services, inbox, "trash") == [gone]
    assert set(await listed(services, inbox, "all")) == {kept, gone}
    found = await services.db.run_read(
        messages.search, inbox.id, "kept", limit=10, cutoff=utcnow() - timedelta(days=30)
    )
    assert [s.id for s in found] == [kept]
    page = await services.db.run_read(
        threads.list_threads, inbox.id, limit=10, cursor=None, cutoff=utcnow() - timedelta(days=30)
    )
    assert page.items[0].message_count == 1
    # Still read by id, and back where it was once untrashed.
    single = await services.db.run_read(
        messages.get_message, inbox.id, gone, cutoff=utcnow() - timedelta(days=30)
    )
    assert single.message.trashed_at is not None
    await apply(services, inbox, [gone], labels.change(trash=False))
    assert await listed(services, inbox) == [gone, kept]
    assert await listed(services, inbox, "trash") == []


async def test_spam_moves_with_its_artifacts_and_quarantine_never(services: Services) -> None:
    inbox = await new_inbox(services.db, "labels-spam")
    good = await deliver(services, inbox)
    virus = await deliver(services, inbox, verdicts=Verdicts(virus="fail"))

    async def otp() -> str | None:
        found = await services.db.run_read(
            messages.latest_otp, inbox.id, cutoff=utcnow() - timedelta(days=30)
        )
        return None if found is None else found.message_id

    assert await otp() == good
    [moved] = await apply(services, inbox, [good], labels.change(spam=True))
    assert moved.folder == "spam"
    assert await listed(services, inbox) == []
    assert await listed(services, inbox, "spam") == [good]
    assert await otp() is None
    await apply(services, inbox, [good], labels.change(spam=False))
    assert await listed(services, inbox) == [good]
    assert await otp() == good
    for spam in (True, False):
        with pytest.raises(InvalidInput) as caught:
            await apply(services, inbox, [good, virus], labels.change(spam=spam, read=True))
        assert caught.value.param == "spam"
    # All or nothing: the refused batch marked nothing read.
    assert await listed(services, inbox, "all", unread=True) == [virus, good]


async def test_user_labels_are_one_per_key_and_capped(services: Services) -> None:
    inbox = await new_inbox(services.db, "labels-user")
    one = await deliver(services, inbox)
    two = await deliver(services, inbox)
    [summary] = await apply(services, inbox, [one], labels.change(add=["Work", "客户"]))
    assert summary.labels == ("Work", "客户")
    [summary] = await apply(services, inbox, [one], labels.change(add=["WORK", "todo"]))
    assert summary.labels == ("todo", "Work", "客户")
    [summary] = await apply(services, inbox, [one], labels.change(remove=["work", "never"]))
    assert summary.labels == ("todo", "客户")
    assert await listed(services, inbox, label_key="todo") == [one]
    assert await listed(services, inbox, label_key="work") == []
    many = [f"l{i}" for i in range(labels.MAX_LABEL_CHANGES)]
    with pytest.raises(InvalidInput) as caught:
        await apply(services, inbox, [two, one], labels.change(add=many))
    assert caught.value.param == "labels.add"
    single = await services.db.run_read(
        messages.get_message, inbox.id, two, cutoff=utcnow() - timedelta(days=30)
    )
    assert single.message.labels == ()  # nothing of the refused batch was applied
    counts = await services.db.run_read(
        labels.list_labels,
        inbox.id,
        cutoff=utcnow() - timedelta(days=30),
        senders=None,
        memory=True,
    )
    assert [(c.name, c.kind, c.message_count, c.unread_count) for c in counts] == [
        ("inbox", "system", 2, 2),
        ("spam", "system", 0, 0),
        ("trash", "system", 0, 0),
        ("todo", "user", 1, 1),
        ("客户", "user", 1, 1),
    ]


async def test_a_batch_is_all_or_nothing_over_ids_the_key_cannot_reach(
    services: Services,
) -> None:
    inbox = await new_inbox(services.db, "labels-batch")
    other = await new_inbox(services.db, "labels-other")
    mine = await deliver(services, inbox)
    eve = await deliver(services, inbox, sender="eve@evil.test")
    theirs = await deliver(services, other)
    for ids, at in (
        ([mine, theirs], "ids[1]"),
        ([mine, "x" * 5000], "ids[1]"),
        (["00000000-0000-0000-0000-000000000000"], "ids[0]"),
        (["ü", mine], "ids[0]"),
    ):
        with pytest.raises(DomainError) as caught:
            await apply(services, inbox, ids, labels.change(read=True))
        assert (caught.value.code, caught.value.param) == ("not_found", at)
    with pytest.raises(DomainError) as caught:
        await apply(
            services, inbox, [mine, eve], labels.change(read=True), senders=("*@acme.test",)
        )
    assert caught.value.param == "ids[1]"
    with pytest.raises(InvalidInput) as caught:
        await apply(services, inbox, [mine, mine], labels.change(read=True))
    assert caught.value.param == "ids[1]"
    for ids in ([], [mine] * (labels.MAX_BATCH + 1)):
        with pytest.raises(InvalidInput) as caught:
            await apply(services, inbox, ids, labels.change(read=True))
        assert caught.value.param == "ids"
    with pytest.raises(NotFound):
        await apply(services, inbox, [theirs], labels.change(read=True), ids_param=None)
    assert await listed(services, inbox, unread=True) == [eve, mine]
    done = await apply(services, inbox, [eve, mine], labels.change(read=True, add=["seen"]))
    assert [(s.id, s.unread, s.labels) for s in done] == [
        (eve, False, ("seen",)),
        (mine, False, ("seen",)),
    ]


async def test_memory_writes_need_memory(services: Services) -> None:
    inbox = await new_inbox(services.db, "labels-memory")
    one = await deliver(services, inbox)
    await services.db.run_write(
        lambda conn: conn.execute(
            t.message_security.update()
            .where(t.message_security.c.message_id == one)
            .values(folder="memory")
        )
    )
    with pytest.raises(DomainError) as caught:
        await apply(services, inbox, [one], labels.change(trash=True), memory=False)
    assert caught.value.param == "ids[0]"
    await apply(services, inbox, [one], labels.change(trash=True))
    assert await listed(services, inbox, "trash") == [one]
    assert await listed(services, inbox, "trash_but_memory") == []
    counts = await services.db.run_read(
        labels.list_labels,
        inbox.id,
        cutoff=utcnow() - timedelta(days=30),
        senders=None,
        memory=False,
    )
    assert [c.message_count for c in counts] == [0, 0, 0]
    rows = await services.db.run_read(
        lambda conn: conn.scalar(sa.select(sa.func.count()).select_from(t.message_labels))
    )
    assert rows == 0
