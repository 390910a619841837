"""The ingest function itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch_server.core.clock import utcnow
from dispatch_server.core.errors import DomainError
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.domain import workspaces
from dispatch_server.domain.inboxes import Inbox
from dispatch_server.events.hub import Hub
from dispatch_server.http.errors import STATUS
from dispatch_server.ingest.doors.smtp import reply_for
from dispatch_server.ingest.pipeline import INLINE_PARSE_BYTES, Envelope, ingest
from dispatch_server.mail.verdicts import Check, Verdicts
from dispatch_server.services import Services
from tests.conftest import fresh_database_url, make_settings
from tests.helpers import make_mail

pytestmark = pytest.mark.anyio


async def new_inbox(db: Database, local_part: str) -> Inbox:
    result = await db.run_write(
        workspaces.signup, domain="dispatch.test", name=None, local_part=local_part
    )
    return result.inbox


async def count(db: Database, table: sa.Table) -> int:
    total = await db.run_read(
        lambda conn: conn.scalar(sa.select(sa.func.count()).select_from(table))
    )
    return int(total or 0)


def all_rows(conn: sa.Connection, query: sa.Select[Any]) -> list[Any]:
    return list(conn.execute(query))


async def test_stores_message_security_and_artifacts(
    db: Database, hub: Hub, database_url: str
) -> None:
    inbox = await new_inbox(db, "bot")
    raw = make_mail(
        "bot@dispatch.test",
        subject="Your Acme verification code",
        text="Your verification code is 482913.\nOr click https://acme.test/verify?token=abc",
    )
    result = await ingest(
        Services(make_settings(database_url), db, hub), raw, Envelope(("bot@dispatch.test",))
    )
    assert result.rejected == ()
    [delivery] = result.deliveries
    assert delivery.inbox_id == inbox.id and not delivery.duplicate and delivery.folder == "inbox"
    [message] = await db.run_read(all_rows, sa.select(t.messages))
    [security] = await db.run_read(all_rows, sa.select(t.message_security))
    artifacts = await db.run_read(
        all_rows, sa.select(t.artifacts).order_by(t.artifacts.c.kind.desc())
    )
    [quota] = await db.run_read(all_rows, sa.select(t.workspace_quotas))
    assert message.subject == "Your Acme verification code"
    assert message.from_address == "no-reply@acme.test"
    assert message.to_addresses == ["bot@dispatch.test"]
    assert bytes(message.raw_mime) == raw
    assert message.size_bytes == len(raw)
    assert "482913" in message.text_body
    assert security.folder == "inbox"
    first = artifacts[0]
    assert (first.kind, first.value, first.is_primary) == ("otp", "482913", True)
    assert ("link", "https://acme.test/verify?token=abc") in [(a.kind, a.value) for a in artifacts]
    assert quota.inbound_count == 1


async def test_dedupes_on_message_id(db: Database, hub: Hub, database_url: str) -> None:
    await new_inbox(db, "bot")
    settings = make_settings(database_url)
    raw = make_mail("bot@dispatch.test", message_id="<same@acme.test>")
    first = await ingest(Services(settings, db, hub), raw, Envelope(("bot@dispatch.test",)))
    second = await ingest(Services(settings, db, hub), raw, Envelope(("bot@dispatch.test",)))
    assert not first.deliveries[0].duplicate
    assert second.deliveries[0].duplicate
    assert second.deliveries[0].message_id == first.deliveries[0].message_id
    assert await count(db, t.messages) == 1


async def test_duplicates_are_per_inbox(db: Database, hub: Hub, database_url: str) -> None:
    alpha, beta, gamma = [await new_inbox(db, name) for name in ("alpha", "beta", "gamma")]
    settings = make_settings(database_url)
    raw = make_mail("alpha@dispatch.test", message_id="<shared@acme.test>")
    first = await ingest(
        Services(settings, db, hub), raw, Envelope(("alpha@dispatch.test", "beta@dispatch.test"))
    )
    again = await ingest(
        Services(settings, db, hub),
        raw,
        Envelope(("alpha@dispatch.test", "beta@dispatch.test", "gamma@dispatch.test")),
    )
    earlier = {d.inbox_id: d.message_id for d in first.deliveries}
    outcome = {d.inbox_id: (d.duplicate, d.message_id) for d in again.deliveries}
    assert outcome[alpha.id] == (True, earlier[alpha.id])
    assert outcome[beta.id] == (True, earlier[beta.id])
    assert outcome[gamma.id][0] is False
    assert await count(db, t.messages) == 3


async def test_reused_message_id_with_another_body_is_a_new_message(
    db: Database, hub: Hub, database_url: str
) -> None:
    """Some senders reuse one Message-ID; the second code must not be dropped as a duplicate."""
    await new_inbox(db, "bot")
    settings = make_settings(database_url)
    envelope = Envelope(("bot@dispatch.test",))
    for code in ("111111", "222222"):
        raw = make_mail("bot@dispatch.test", text=f"Code: {code}", message_id="<reused@acme.test>")
        [delivery] = (await ingest(Services(settings, db, hub), raw, envelope)).deliveries
        assert not delivery.duplicate
    assert await count(db, t.messages) == 2


async def test_long_message_id_and_provider_id_are_stored_and_deduped(
    db: Database, hub: Hub, database_url: str
) -> None:
    await new_inbox(db, "bot")
    settings = make_settings(database_url)
    raw = make_mail("bot@dispatch.test", message_id="<" + "m" * 900 + "@acme.test>")
    by_header = [
        await ingest(Services(settings, db, hub), raw, Envelope(("bot@dispatch.test",)))
        for _ in range(2)
    ]
    long_provider = Envelope(("bot@dispatch.test",), provider_message_id="p" * 1000)
    by_provider = [await ingest(Services(settings, db, hub), raw, long_provider) for _ in range(2)]
    assert [r.deliveries[0].duplicate for r in by_header + by_provider] == [
        False,
        True,
        False,
        True,
    ]
    [stored, _] = await db.run_read(all_rows, sa.select(t.messages.c.message_id_header))
    assert stored.message_id_header == "<" + "m" * 900 + "@acme.test>"


async def test_concurrent_deliveries_of_one_message_store_it_once(
    db: Database, hub: Hub, database_url: str
) -> None:
    inbox = await new_inbox(db, "bot")
    settings = make_settings(database_url)
    for round_ in range(5):
        raw = make_mail("bot@dispatch.test", message_id=f"<same-{round_}@acme.test>")
        results = await asyncio.gather(
            *(
                ingest(Services(settings, db, hub), raw, Envelope(("bot@dispatch.test",)))
                for _ in range(8)
            )
        )
        deliveries = [r.deliveries[0] for r in results]
        assert sorted(d.duplicate for d in deliveries) == [False] + [True] * 7
        assert {d.message_id for d in deliveries} == {deliveries[0].message_id}
        assert {d.inbox_id for d in deliveries} == {inbox.id}
    assert await count(db, t.messages) == 5
    [quota] = await db.run_read(all_rows, sa.select(t.workspace_quotas.c.inbound_count))
    assert quota.inbound_count == 5


async def test_provider_id_wins_over_message_id(db: Database, hub: Hub, database_url: str) -> None:
    await new_inbox(db, "bot")
    settings = make_settings(database_url)
    raw = make_mail("bot@dispatch.test", message_id="<same@acme.test>")
    await ingest(
        Services(settings, db, hub),
        raw,
        Envelope(("bot@dispatch.test",), provider_message_id="ses-1"),
    )
    await ingest(
        Services(settings, db, hub),
        raw,
        Envelope(("bot@dispatch.test",), provider_message_id="ses-2"),
    )
    await ingest(
        Services(settings, db, hub),
        raw,
        Envelope(("bot@dispatch.test",), provider_message_id="ses-2"),
    )
    assert await count(db, t.messages) == 2


async def test_mail_without_message_id_is_never_deduped(
    db: Database, hub: Hub, database_url: str
) -> None:
    await new_inbox(db, "bot")
    raw = b"From: a@acme.test\r\nTo: bot@dispatch.test\r\nSubject: hi\r\n\r\nsame body\r\n"
    for _ in range(2):
        await ingest(
            Services(make_settings(database_url), db, hub), raw, Envelope(("bot@dispatch.test",))
        )
    assert await count(db, t.messages) == 2


async def test_recipients_plus_addressing_case_and_unknowns(
    db: Database, hub: Hub, database_url: str
) -> None:
    a = await new_inbox(db, "alpha")
    b = await new_inbox(db, "beta")
    raw = make_mail("alpha@dispatch.test")
    result = await ingest(
        Services(make_settings(database_url), db, hub),
        raw,
        Envelope(
            (
                "Alpha+github@Dispatch.Test",
                "beta@dispatch.test",
                "alpha@dispatch.test",
                "ghost@dispatch.test",
            )
        ),
    )
    assert sorted(d.inbox_id for d in result.deliveries) == sorted([a.id, b.id])
    assert result.rejected == ("ghost@dispatch.test",)


async def test_spam_verdicts_and_headers_choose_the_spam_folder(
    db: Database, hub: Hub, database_url: str
) -> None:
    await new_inbox(db, "bot")
    settings = make_settings(database_url)
    flagged = make_mail("bot@dispatch.test", headers={"X-Spam-Flag": "YES"})
    by_header = await ingest(Services(settings, db, hub), flagged, Envelope(("bot@dispatch.test",)))
    by_verdict = await ingest(
        Services(settings, db, hub),
        make_mail("bot@dispatch.test"),
        Envelope(("bot@dispatch.test",), verdicts=Verdicts(spam="pass", virus="fail")),
    )
    clean = await ingest(
        Services(settings, db, hub),
        make_mail("bot@dispatch.test"),
        Envelope(
            ("bot@dispatch.test",),
            verdicts=Verdicts(spam="pass", virus="pass", dkim=Check("pass", "signed")),
        ),
    )
    assert [r.deliveries[0].folder for r in (by_header, by_verdict, clean)] == [
        "spam",
        "quarantine",
        "inbox",
    ]
    verdicts = {
        row.message_id: row for row in await db.run_read(all_rows, sa.select(t.message_security))
    }
    assert verdicts[by_verdict.deliveries[0].message_id].virus_verdict == "fail"
    assert verdicts[clean.deliveries[0].message_id].dkim_verdict == "pass"
    assert verdicts[clean.deliveries[0].message_id].details["dkim"]["why"] == "signed"


async def test_quota_is_enforced_and_nothing_partial_is_stored(
    db: Database, hub: Hub, database_url: str
) -> None:
    await new_inbox(db, "bot")
    settings = make_settings(database_url, DISPATCH_DAILY_INBOUND_QUOTA=2)
    for _ in range(2):
        await ingest(
            Services(settings, db, hub),
            make_mail("bot@dispatch.test"),
            Envelope(("bot@dispatch.test",)),
        )
    with pytest.raises(DomainError) as caught:
        await ingest(
            Services(settings, db, hub),
            make_mail("bot@dispatch.test"),
            Envelope(("bot@dispatch.test",)),
        )
    assert caught.value.code == "quota_exceeded"
    assert reply_for(caught.value).startswith("452")
    assert await count(db, t.messages) == 2


async def test_concurrent_ingest_respects_quota_exactly(
    db: Database, hub: Hub, database_url: str
) -> None:
    await new_inbox(db, "bot")
    settings = make_settings(database_url, DISPATCH_DAILY_INBOUND_QUOTA=5)

    async def one() -> bool:
        try:
            await ingest(
                Services(settings, db, hub),
                make_mail("bot@dispatch.test"),
                Envelope(("bot@dispatch.test",)),
            )
        except DomainError:
            return False
        return True

    outcomes = await asyncio.gather(*(one() for _ in range(12)))
    assert outcomes.count(True) == 5
    assert await count(db, t.messages) == 5


async def test_a_refused_message_in_a_shared_commit_fails_alone(
    db: Database, hub: Hub, database_url: str
) -> None:
    """On SQLite concurrent ingests share one transaction (group commit): the ones refused
    inside it (over quota) must fail without taking the others down with them."""
    names = [f"ok{i}" for i in range(10)]
    for name in [*names, "full"]:
        await new_inbox(db, name)
    settings = make_settings(database_url, DISPATCH_DAILY_INBOUND_QUOTA=1)
    services = Services(settings, db, hub)
    await ingest(services, make_mail("full@dispatch.test"), Envelope(("full@dispatch.test",)))
    recipients = [*names[:5], "full", "full", *names[5:], "full"]
    outcomes = await asyncio.gather(
        *(
            ingest(
                services, make_mail(f"{name}@dispatch.test"), Envelope((f"{name}@dispatch.test",))
            )
            for name in recipients
        ),
        return_exceptions=True,
    )
    for name, outcome in zip(recipients, outcomes, strict=True):
        if name == "full":
            assert isinstance(outcome, DomainError) and outcome.code == "quota_exceeded"
        else:
            assert not isinstance(outcome, BaseException), outcome
            assert not outcome.deliveries[0].duplicate
    assert await count(db, t.messages) == 1 + len(names)


async def test_concurrent_multi_recipient_ingests_all_land(
    db: Database, hub: Hub, database_url: str
) -> None:
    """Overlapping recipient sets across workspaces, concurrently: no deadlock, nothing lost."""
    names = ["w1", "w2", "w3", "w4"]
    for name in names:
        await new_inbox(db, name)
    settings = make_settings(database_url)
    chooser = random.Random(7)
    envelopes = [
        Envelope(tuple(f"{n}@dispatch.test" for n in chooser.sample(names, chooser.randint(2, 4))))
        for _ in range(40)
    ]
    results = await asyncio.gather(
        *(
            ingest(Services(settings, db, hub), make_mail(envelope.recipients[0]), envelope)
            for envelope in envelopes
        )
    )
    assert [len(r.deliveries) for r in results] == [len(e.recipients) for e in envelopes]
    assert await count(db, t.messages) == sum(len(e.recipients) for e in envelopes)


async def test_size_and_mime_caps(db: Database, hub: Hub, database_url: str) -> None:
    await new_inbox(db, "bot")
    envelope = Envelope(("bot@dispatch.test",))
    small = make_settings(database_url, DISPATCH_MAX_MESSAGE_BYTES=1024)
    with pytest.raises(DomainError) as too_big:
        await ingest(
            Services(small, db, hub), make_mail("bot@dispatch.test", text="x" * 2000), envelope
        )
    assert (too_big.value.code, reply_for(too_big.value)[:3], STATUS[too_big.value.code]) == (
        "message_too_large",
        "552",
        413,
    )

    message = EmailMessage()
    message["To"] = "bot@dispatch.test"
    message.set_content("root")
    for i in range(30):
        message.add_attachment(f"part {i}".encode(), maintype="application", subtype="octet-stream")
    capped = make_settings(database_url, DISPATCH_MAX_MIME_PARTS=10)
    with pytest.raises(DomainError) as too_many:
        await ingest(Services(capped, db, hub), message.as_bytes(), envelope)
    assert too_many.value.code == "unparseable_message"

    nested = b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    for depth in range(15):
        nested = (
            f"Content-Type: multipart/mixed; boundary=b{depth}\r\n\r\n--b{depth}\r\n".encode()
            + nested
            + f"\r\n--b{depth}--\r\n".encode()
        )
    deep = b"To: bot@dispatch.test\r\nMIME-Version: 1.0\r\n" + nested
    with pytest.raises(DomainError) as too_deep:
        await ingest(
            Services(make_settings(database_url, DISPATCH_MAX_MIME_DEPTH=5), db, hub),
            deep,
            envelope,
        )
    assert "nesting" in too_deep.value.message
    assert await count(db, t.messages) == 0


async def test_large_message_is_parsed_off_the_event_loop_and_stored_whole(
    db: Database, hub: Hub, database_url: str
) -> None:
    await new_inbox(db, "bot")
    message = EmailMessage()
    message["To"] = "bot@dispatch.test"
    message["Subject"] = "Your statement"
    message.set_content("Your verification code is 731904.")
    report = bytes(range(256)) * 800  # 200 KB, well above INLINE_PARSE_BYTES
    message.add_attachment(report, maintype="application", subtype="pdf", filename="report.pdf")
    raw = message.as_bytes()
    assert len(raw) > INLINE_PARSE_BYTES
    result = await ingest(
        Services(make_settings(database_url), db, hub), raw, Envelope(("bot@dispatch.test",))
    )
    [delivery] = result.deliveries
    [stored] = await db.run_read(all_rows, sa.select(t.messages))
    assert bytes(stored.raw_mime) == raw
    assert [(a["filename"], a["size_bytes"]) for a in stored.attachments] == [
        ("report.pdf", len(report))
    ]
    otps = await db.run_read(
        all_rows,
        sa.select(t.artifacts.c.value).where(
            t.artifacts.c.message_id == delivery.message_id, t.artifacts.c.kind == "otp"
        ),
    )
    assert [row.value for row in otps] == ["731904"]


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: =?bogus-charset?q?hi?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\n\xff\xfe body",
        b"From: <<<>>>\r\nTo: ,,,\r\nContent-Type: multipart/alternative\r\n\r\nno boundary at all",
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
        b"Subject: nul\x00in subject\r\nFrom: a\x00b@acme.test\r\n\r\n"
        b"body \x00 with NUL, code 123456",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
        b"Content-Disposition: attachment; filename*=bad''%ZZ\r\n\r\ndata\r\n--x--",
    ],
)
async def test_malformed_mail_is_stored_not_lost(
    db: Database, hub: Hub, database_url: str, raw: bytes
) -> None:
    await new_inbox(db, "bot")
    result = await ingest(
        Services(make_settings(database_url), db, hub), raw, Envelope(("bot@dispatch.test",))
    )
    assert len(result.deliveries) == 1
    [stored] = await db.run_read(all_rows, sa.select(t.messages.c.raw_mime))
    assert bytes(stored.raw_mime) == raw


async def test_ingest_wakes_subscribers_of_that_inbox_only(
    db: Database, hub: Hub, database_url: str
) -> None:
    a = await new_inbox(db, "alpha")
    b = await new_inbox(db, "beta")
    async with hub.subscribe(a.id) as sub_a, hub.subscribe(b.id) as sub_b:
        await ingest(
            Services(make_settings(database_url), db, hub),
            make_mail("alpha@dispatch.test"),
            Envelope(("alpha@dispatch.test",)),
        )
        assert await sub_a.wait(1.0) is True
        assert await sub_b.wait(0.05) is False


@pytest.fixture
def postgres_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from fresh_database_url("postgresql", tmp_path_factory, request)


async def test_postgres_notify_wakes_waiters_in_other_processes(postgres_url: str) -> None:
    """Two hubs stand for two processes (API and SMTP listener) sharing one database."""
    db = Database(postgres_url)
    api_hub, smtp_hub = Hub(), Hub()
    try:
        await api_hub.start_listening(db)
        inbox = await new_inbox(db, "bot")
        async with api_hub.subscribe(str(inbox.id)) as subscription:
            await ingest(
                Services(make_settings(postgres_url), db, smtp_hub),
                make_mail("bot@dispatch.test"),
                Envelope(("bot@dispatch.test",)),
            )
            assert await subscription.wait(2.0) is True
    finally:
        await api_hub.close()
        await db.dispose()


async def test_postgres_ingest_takes_received_at_only_once_it_holds_the_inbox(
    postgres_url: str,
) -> None:
    """Ingests into one inbox queue behind each other and take received_at once at the head,
    so they commit in received_at order: a waiter that resumes after the newest message it
    saw cannot miss one that took an earlier received_at but committed later."""
    db, hub, settings = Database(postgres_url), Hub(), make_settings(postgres_url)
    try:
        inbox = await new_inbox(db, "bot")
        other = create_async_engine(postgres_url)
        async with other.connect() as other_ingest:
            await other_ingest.begin()
            await other_ingest.execute(
                sa.select(t.inboxes.c.id)
                .where(t.inboxes.c.id == inbox.id)
                .with_for_update(key_share=True)
            )
            queued = asyncio.create_task(
                ingest(
                    Services(settings, db, hub),
                    make_mail("bot@dispatch.test"),
                    Envelope(("bot@dispatch.test",)),
                )
            )
            await asyncio.sleep(0.5)
            assert not queued.done()
            released = utcnow()
            await other_ingest.commit()
        await other.dispose()
        [delivery] = (await queued).deliveries
        [stored] = await db.run_read(
            all_rows,
            sa.select(t.messages.c.received_at).where(t.messages.c.id == delivery.message_id),
        )
        assert stored.received_at >= released
    finally:
        await db.dispose()


async def test_postgres_listener_reconnects_and_wakes_waiters(postgres_url: str) -> None:
    db = Database(postgres_url)
    api_hub, smtp_hub = Hub(), Hub()
    try:
        await api_hub.start_listening(db)
        inbox = await new_inbox(db, "bot")
        async with api_hub.subscribe(str(inbox.id)) as subscription:
            admin_engine = create_async_engine(postgres_url)
            async with admin_engine.connect() as admin:
                await admin.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                        " AND query LIKE 'LISTEN%'"
                    )
                )
            await admin_engine.dispose()
            # Back on a new connection, the hub wakes every waiter to look again ...
            assert await subscription.wait(5.0) is True
            # ... and other processes' ingests reach it as before.
            await ingest(
                Services(make_settings(postgres_url), db, smtp_hub),
                make_mail("bot@dispatch.test"),
                Envelope(("bot@dispatch.test",)),
            )
            assert await subscription.wait(2.0) is True
    finally:
        await api_hub.close()
        await db.dispose()


async def test_only_confident_codes_are_stored(db: Database, hub: Hub, database_url: str) -> None:
    """A weak candidate is the SDK's to report; the server, its waits and its latest OTP act
    on confident codes only."""
    from dispatch_client.extract import extract

    await new_inbox(db, "bot")
    far = "x " * 70  # the code word too far from the number for confidence
    text = f"Since 2026 {far} code of conduct."
    [weak] = extract(None, text, None).otps
    assert not weak.confident  # what the mail below gives: a candidate, not a code
    raw = make_mail("bot@dispatch.test", subject="Account news", text=text)
    await ingest(
        Services(make_settings(database_url), db, hub), raw, Envelope(("bot@dispatch.test",))
    )
    kinds = await db.run_read(lambda conn: list(conn.scalars(sa.select(t.artifacts.c.kind))))
    assert "otp" not in kinds
