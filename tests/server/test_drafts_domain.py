"""Drafts (dispatch_server.domain.drafts) on both databases: saved incomplete, updated in
part with the version going up and stale versions refused, listed latest updated first in
pages, the cap of drafts an inbox keeps, what a restricted key sees, and `take` (the delete
of a draft's send) refusing a draft gone or changed; hostile values (huge and unicode,
another inbox's ids, caps at their edges) are InvalidInput naming the field or NotFound."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import InvalidInput, NotFound
from dispatch_server.db import Database
from dispatch_server.domain import drafts, sends, workspaces
from dispatch_server.domain.drafts import DraftChanged, DraftFields
from dispatch_server.domain.inboxes import Inbox
from dispatch_server.ingest.pipeline import Envelope, ingest
from dispatch_server.mail.verdicts import Verdicts
from dispatch_server.services import Services
from tests.helpers import make_mail

pytestmark = pytest.mark.anyio
MAX = 50


async def new_inbox(db: Database, local_part: str) -> Inbox:
    result = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=local_part
    )
    return result.inbox


async def create(db: Database, inbox: Inbox, **fields: object) -> drafts.Draft:
    draft: drafts.Draft = await db.run_write(
        drafts.create_draft,
        inbox.workspace_id,
        inbox.id,
        DraftFields(**fields),  # type: ignore[arg-type]
        now=utcnow(),
        max_recipients=MAX,
    )
    return draft


async def deliver(services: Services, inbox: Inbox, sender: str) -> str:
    raw = make_mail(inbox.address, subject="Hi", sender=sender)
    result = await ingest(
        services, raw, Envelope((inbox.address,), door="webhook", verdicts=Verdicts())
    )
    message_id: str = result.deliveries[0].message_id
    return message_id


async def test_a_draft_is_saved_incomplete_and_updated_in_part(db: Database) -> None:
    inbox = await new_inbox(db, "writer")
    draft = await create(db, inbox)
    assert (draft.version, draft.fields) == (1, DraftFields())
    later = utcnow() + timedelta(seconds=1)
    updated = await db.run_write(
        drafts.update_draft,
        inbox.id,
        draft.id,
        {"to": ("Ann <ann@acme.test>",), "subject": "Hällo 👋"},
        version=1,
        now=later,
        max_recipients=MAX,
    )
    assert (updated.version, updated.fields.to, updated.fields.subject) == (
        2,
        ("Ann <ann@acme.test>",),
        "Hällo 👋",
    )
    assert updated.fields.text is None and updated.updated_at == later
    assert updated.created_at == draft.created_at
    # Another update without a version is applied; one naming an old version is refused.
    again = await db.run_write(
        drafts.update_draft,
        inbox.id,
        draft.id,
        {"text": "Body"},
        version=None,
        now=later,
        max_recipients=MAX,
    )
    assert (again.version, again.fields.subject, again.fields.text) == (3, "Hällo 👋", "Body")
    with pytest.raises(DraftChanged) as stale:
        await db.run_write(
            drafts.update_draft,
            inbox.id,
            draft.id,
            {"text": "lost"},
            version=2,
            now=later,
            max_recipients=MAX,
        )
    assert stale.value.param == "version"
    kept = await db.run_read(drafts.get_draft, inbox.id, draft.id)
    assert (kept.version, kept.fields.text) == (3, "Body")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"to": tuple(f"a{i}@x.test" for i in range(MAX + 1))}, "to"),
        ({"to": ("a@x.test",) * 20, "cc": ("b@x.test",) * 20, "bcc": ("c@x.test",) * 11}, "to"),
        ({"reply_to": tuple(f"r{i}@x.test" for i in range(MAX + 1))}, "reply_to"),
        ({"cc": ("x" * 999,)}, "cc"),
        ({"bcc": ("ü" * 999,)}, "bcc"),
        ({"subject": "s" * (sends.MAX_SUBJECT_CHARS + 1)}, "subject"),
        ({"text": "t" * (sends.MAX_BODY_CHARS + 1)}, "text"),
        ({"html": "h" * (sends.MAX_BODY_CHARS + 1)}, "html"),
        ({"headers": {f"X-{i}": "v" for i in range(drafts.MAX_HEADERS + 1)}}, "headers"),
        ({"headers": {"X-" + "n" * 100: "v"}}, "headers"),
        ({"headers": {"": "v"}}, "headers"),
        ({"headers": {"X-Big": "v" * 999}}, "headers"),
        ({"in_reply_to": "no-such-message"}, "in_reply_to"),
    ],
)
async def test_caps_hold_at_save_and_at_update(
    db: Database, fields: dict[str, object], param: str
) -> None:
    inbox = await new_inbox(db, "capped")
    with pytest.raises(InvalidInput) as refused:
        await create(db, inbox, **fields)
    assert refused.value.param == param
    draft = await create(db, inbox)
    with pytest.raises(InvalidInput) as refused:
        await db.run_write(
            drafts.update_draft,
            inbox.id,
            draft.id,
            fields,
            version=None,
            now=utcnow(),
            max_recipients=MAX,
        )
    assert refused.value.param == param
    assert (await db.run_read(drafts.get_draft, inbox.id, draft.id)).version == 1


async def test_values_at_the_caps_are_kept_whole(db: Database) -> None:
    inbox = await new_inbox(db, "edges")
    draft = await create(
        db,
        inbox,
        to=tuple(f"ü{i}@bücher.test" for i in range(MAX)),
        subject="ß" * sends.MAX_SUBJECT_CHARS,
        headers={"X-" + "n" * 98: "v" * drafts.MAX_HEADER_VALUE_CHARS},
        text="😀" * 10_000,
    )
    found = await db.run_read(drafts.get_draft, inbox.id, draft.id)
    assert found.fields == draft.fields and len(found.fields.to) == MAX
    assert found.fields.text == "😀" * 10_000


async def test_listing_is_latest_updated_first_in_pages(db: Database) -> None:
    inbox = await new_inbox(db, "lister")
    made = [await create(db, inbox, subject=str(i)) for i in range(5)]
    await db.run_write(
        drafts.update_draft,
        inbox.id,
        made[1].id,
        {"subject": "touched"},
        version=None,
        now=utcnow() + timedelta(seconds=5),
        max_recipients=MAX,
    )
    seen: list[str] = []
    cursor = None
    while True:
        found = await db.run_read(drafts.list_drafts, inbox.id, limit=2, cursor=cursor)
        seen += [d.fields.subject for d in found.items]
        cursor = found.next_cursor
        if cursor is None:
            break
    assert seen == ["touched", "4", "3", "2", "0"]


async def test_another_inboxs_draft_and_odd_ids_are_not_found(db: Database) -> None:
    mine, theirs = await new_inbox(db, "mine"), await new_inbox(db, "theirs")
    their_draft = await create(db, theirs, subject="secret")
    for draft_id in (their_draft.id, "", "x" * 5000, "ü", "' OR 1=1 --"):
        with pytest.raises(NotFound):
            await db.run_read(drafts.get_draft, mine.id, draft_id)
        with pytest.raises(NotFound):
            await db.run_write(drafts.delete_draft, mine.id, draft_id)
        with pytest.raises(NotFound):
            await db.run_write(drafts.take, mine.id, draft_id, version=1)
    assert (await db.run_read(drafts.get_draft, theirs.id, their_draft.id)).fields.subject == (
        "secret"
    )


async def test_an_inbox_keeps_at_most_max_drafts(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drafts, "MAX_DRAFTS", 2)
    inbox, other = await new_inbox(db, "full"), await new_inbox(db, "empty")
    first = await create(db, inbox)
    await create(db, inbox)
    with pytest.raises(InvalidInput):
        await create(db, inbox)
    await create(db, other)  # the cap is the inbox's
    await db.run_write(drafts.delete_draft, inbox.id, first.id)
    await create(db, inbox)


async def test_take_deletes_once_and_refuses_a_changed_draft(db: Database) -> None:
    inbox = await new_inbox(db, "taker")
    draft = await create(db, inbox, to=("a@x.test",), text="x")
    await db.run_write(
        drafts.update_draft,
        inbox.id,
        draft.id,
        {"text": "y"},
        version=None,
        now=utcnow(),
        max_recipients=MAX,
    )
    with pytest.raises(DraftChanged):
        await db.run_write(drafts.take, inbox.id, draft.id, version=1)
    await db.run_write(drafts.take, inbox.id, draft.id, version=2)
    with pytest.raises(NotFound):
        await db.run_write(drafts.take, inbox.id, draft.id, version=2)
    with pytest.raises(NotFound):
        await db.run_read(drafts.get_draft, inbox.id, draft.id)


async def test_a_restricted_key_sees_only_replies_to_its_senders(services: Services) -> None:
    db = services.db
    inbox = await new_inbox(db, "restricted")
    ann = await deliver(services, inbox, "Ann <ann@acme.test>")
    eve = await deliver(services, inbox, "eve@evil.test")
    senders = ("*@acme.test",)
    plain = await create(db, inbox, subject="new")
    to_ann = await create(db, inbox, in_reply_to=ann)
    to_eve = await create(db, inbox, in_reply_to=eve)
    found = await db.run_read(drafts.list_drafts, inbox.id, limit=10, cursor=None, senders=senders)
    assert {d.id for d in found.items} == {plain.id, to_ann.id}
    with pytest.raises(NotFound):
        await db.run_read(drafts.get_draft, inbox.id, to_eve.id, senders=senders)
    with pytest.raises(NotFound):
        await db.run_write(drafts.delete_draft, inbox.id, to_eve.id, senders=senders)
    with pytest.raises(InvalidInput) as refused:
        await db.run_write(
            drafts.create_draft,
            inbox.workspace_id,
            inbox.id,
            DraftFields(in_reply_to=eve),
            now=utcnow(),
            max_recipients=MAX,
            senders=senders,
        )
    assert refused.value.param == "in_reply_to"
    with pytest.raises(InvalidInput):
        await db.run_write(
            drafts.update_draft,
            inbox.id,
            plain.id,
            {"in_reply_to": eve},
            version=None,
            now=utcnow(),
            max_recipients=MAX,
            senders=senders,
        )
    # Another inbox's message is no reply of this one's either.
    other = await new_inbox(db, "other")
    theirs = await deliver(services, other, "Ann <ann@acme.test>")
    with pytest.raises(InvalidInput):
        await create(db, inbox, in_reply_to=theirs)
