"""Allow and block lists (dispatch_server.domain.lists): the patterns taken, what an address
matches (case, subdomains, international domains, odd input), and the precedence of block,
allow and allow-list mode across inbox and workspace entries, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError, ErrorCode, InvalidInput
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import inboxes, lists, workspaces
from dispatch_server.domain.inboxes import Inbox
from dispatch_server.ingest.doors import ses
from dispatch_server.ingest.pipeline import Envelope
from dispatch_server.services import Services
from tests.helpers import make_mail

# --- patterns ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("A@X.com", "a@x.com"),
        ("  x.com ", "x.com"),
        ("*.Example.COM", "*.example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("*.bücher.de", "*.xn--bcher-kva.de"),
        ("jörg@bücher.de", "jörg@xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("a+tag@x.com", "a+tag@x.com"),
        ("x.com.", "x.com"),
        ("*@X.com", "x.com"),
    ],
)
def test_patterns_are_stored_lowercased_in_punycode(raw: str, stored: str) -> None:
    assert lists.pattern(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "com",
        "*",
        "@x.com",
        "a@",
        "a@b@",
        "a b@x.com",
        "a@x .com",
        "*.com",
        "x.*.com",
        "[10.0.0.1]",
        "a@[10.0.0.1]",
        "a\x00@x.com",
        "x.com\x00",
        "a<b>@x.com",
        "1.2.3.4",
        "a" * 65 + "@x.com",
        "x" * 5000 + ".com",
        "-x.com",
    ],
)
def test_malformed_patterns_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        lists.pattern(raw)
    assert refused.value.param == "pattern"
    assert len(refused.value.message) < 200  # a 5,000-character pattern is not echoed


def test_candidates_are_the_address_its_domain_and_each_parent_wildcard() -> None:
    assert lists.candidates("Bob@Mail.Eu.X.com") == [
        "bob@mail.eu.x.com",
        "mail.eu.x.com",
        "*.eu.x.com",
        "*.x.com",
    ]
    assert lists.candidates("<a@x.com>") == ["a@x.com", "x.com"]
    assert lists.candidates("a@bücher.de") == ["a@xn--bcher-kva.de", "xn--bcher-kva.de"]


@pytest.mark.parametrize(
    "odd", [None, "", "<>", "no-at-sign", "a@", "@x.com", "a@[1.2.3.4]", "a@b"]
)
def test_what_is_no_address_matches_nothing(odd: str | None) -> None:
    assert lists.candidates(odd) == []


def test_a_domain_matches_itself_and_a_wildcard_only_its_subdomains() -> None:
    def matches(pattern: str, address: str) -> bool:
        return lists.pattern(pattern) in lists.candidates(address)

    assert matches("x.com", "a@x.com") and matches("x.com", "A@X.COM")
    assert not matches("x.com", "a@mail.x.com")
    assert matches("*.x.com", "a@mail.x.com") and matches("*.x.com", "a@deep.mail.x.com")
    assert not matches("*.x.com", "a@x.com")
    assert not matches("x.com", "a@evilx.com") and not matches("*.x.com", "a@evilx.com")
    assert matches("a@x.com", "A@x.com") and not matches("a@x.com", "a+tag@x.com")
    assert matches("bücher.de", "a@xn--bcher-kva.de") and matches("xn--bcher-kva.de", "a@bücher.de")


def test_the_sender_is_the_envelope_sender_unless_it_is_null() -> None:
    assert lists.sender_of("bounce@x.test", "from@y.test") == "bounce@x.test"
    for null in (None, "", "<>"):
        assert lists.sender_of(null, "from@y.test") == "from@y.test"
    assert lists.sender_of("<>", None) is None


@pytest.mark.parametrize(
    ("blocked", "allowed", "allow_list", "refused"),
    [
        (False, False, False, False),  # no entries: taken
        (True, False, False, True),  # blocked
        (True, True, True, True),  # block wins over allow
        (False, True, True, False),  # allowed
        (False, False, True, True),  # allow-list mode: the rest is refused
    ],
)
def test_the_precedence_rule(blocked: bool, allowed: bool, allow_list: bool, refused: bool) -> None:
    assert lists.refuses(blocked=blocked, allowed=allowed, allow_list=allow_list) is refused


# --- on the databases ----------------------------------------------------------------------

pytestmark = pytest.mark.anyio


async def new_inbox(db: Database, local_part: str) -> Inbox:
    result = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=local_part
    )
    return result.inbox


async def add(
    db: Database,
    inbox: Inbox,
    pattern: str,
    *,
    action: lists.Action,
    direction: lists.Direction = "receive",
    whole_workspace: bool = False,
) -> lists.Entry:
    return await db.run_write(
        lists.add,
        inbox.workspace_id,
        inbox_id=None if whole_workspace else inbox.id,
        direction=direction,
        action=action,
        raw_pattern=pattern,
        now=utcnow(),
    )


async def refused(
    db: Database, inbox: Inbox, *addresses: str, direction: str = "receive"
) -> list[str]:
    return await db.run_read(
        lists.refused_among, inbox.workspace_id, inbox.id, direction, list(addresses)
    )


async def test_block_wins_and_allow_list_mode_refuses_the_rest(db: Database) -> None:
    inbox = await new_inbox(db, "lists-precedence")
    assert await refused(db, inbox, "a@x.com") == []
    await add(db, inbox, "spam.test", action="block")
    assert await refused(db, inbox, "a@spam.test", "a@x.com") == ["a@spam.test"]
    # An allow entry turns on allow-list mode for the inbox's receive list.
    await add(db, inbox, "*.github.test", action="allow")
    assert await refused(db, inbox, "a@x.com", "n@mail.github.test", "n@github.test") == [
        "a@x.com",
        "n@github.test",
    ]
    # Block wins over allow: the workspace blocks one subdomain the inbox allows.
    await add(db, inbox, "bad.github.test", action="block", whole_workspace=True)
    assert await refused(db, inbox, "n@bad.github.test", "n@ok.github.test") == [
        "n@bad.github.test"
    ]
    # The send direction is a list of its own.
    assert await refused(db, inbox, "a@spam.test", direction="send") == []


async def test_workspace_entries_apply_to_every_inbox_and_inbox_entries_to_theirs(
    db: Database,
) -> None:
    first = await new_inbox(db, "lists-first")
    second = await db.run_write(_second_inbox, first, "lists-second")
    await add(db, first, "only-first@x.test", action="block")
    await add(db, first, "everyone.test", action="block", whole_workspace=True)
    assert await refused(db, first, "only-first@x.test", "a@everyone.test") == [
        "a@everyone.test",
        "only-first@x.test",
    ]
    assert await refused(db, second, "only-first@x.test", "a@everyone.test") == ["a@everyone.test"]
    # A workspace allow entry is allow-list mode for every inbox; an inbox's allow adds to it.
    await add(db, first, "partner.test", action="allow", whole_workspace=True)
    await add(db, second, "friend@y.test", action="allow")
    assert await refused(db, first, "friend@y.test", "a@partner.test") == ["friend@y.test"]
    assert await refused(db, second, "friend@y.test", "a@partner.test") == []
    # A sender that is no address is refused in allow-list mode only.
    assert await db.run_read(lists.receive_refused, first.workspace_id, first.id, None)
    other = await new_inbox(db, "lists-other")
    assert not await db.run_read(lists.receive_refused, other.workspace_id, other.id, None)


def _second_inbox(conn: sa.Connection, first: Inbox, local_part: str) -> Inbox:
    return inboxes.insert_inbox(
        conn,
        workspace_id=first.workspace_id,
        agent_id=first.agent_id,
        domain="dispatch.test",
        local_part=local_part,
        display_name=None,
    )


async def test_entries_are_unique_per_scope_direction_and_pattern(db: Database) -> None:
    inbox = await new_inbox(db, "lists-unique")
    await add(db, inbox, "x.test", action="allow")
    with pytest.raises(DomainError) as exists:
        await add(db, inbox, "X.TEST", action="block")
    assert exists.value.code == ErrorCode.LIST_ENTRY_EXISTS and exists.value.param == "pattern"
    # The same pattern for the workspace, or for sending, is another entry.
    await add(db, inbox, "x.test", action="block", whole_workspace=True)
    with pytest.raises(DomainError):
        await add(db, inbox, "x.test", action="block", whole_workspace=True)
    await add(db, inbox, "x.test", action="block", direction="send")
    page = await db.run_read(
        lists.list_entries, inbox.workspace_id, inbox_id=None, direction=None, limit=2, cursor=None
    )
    assert len(page.items) == 2 and page.next_cursor is not None
    rest = await db.run_read(
        lists.list_entries,
        inbox.workspace_id,
        inbox_id=None,
        direction=None,
        limit=2,
        cursor=page.next_cursor,
    )
    assert len(rest.items) == 1 and rest.next_cursor is None
    own = await db.run_read(
        lists.list_entries,
        inbox.workspace_id,
        inbox_id=inbox.id,
        direction="receive",
        limit=10,
        cursor=None,
    )
    assert [(e.pattern, e.action) for e in own.items] == [("x.test", "allow")]


async def test_another_workspaces_inbox_is_refused_naming_the_field(db: Database) -> None:
    mine, theirs = await new_inbox(db, "lists-mine"), await new_inbox(db, "lists-theirs")
    with pytest.raises(InvalidInput) as refused_input:
        await db.run_write(
            lists.add,
            mine.workspace_id,
            inbox_id=theirs.id,
            direction="receive",
            action="block",
            raw_pattern="x.test",
            now=utcnow(),
        )
    assert refused_input.value.param == "inbox_id"


async def test_the_ses_door_records_and_drops_a_blocked_senders_mail(services: Services) -> None:
    db = services.db
    inbox = await new_inbox(db, "lists-ses")
    await add(db, inbox, "spam.test", action="block")
    raw = make_mail(inbox.address, sender="Bad <bad@spam.test>")
    envelope = Envelope(
        (inbox.address,), mail_from="bad@spam.test", provider_message_id="ses-1", door="ses_sqs"
    )
    assert await ses.receive(services, raw, envelope) == "refused"
    rejections = await db.run_read(lambda conn: conn.execute(sa.select(t.inbound_rejections)).all())
    assert [(r.provider_message_id, r.reason) for r in rejections] == [("ses-1", "sender_blocked")]
    stored = await db.run_read(
        lambda conn: conn.scalar(sa.select(sa.func.count()).select_from(t.messages))
    )
    assert stored == 0
