"""The SES inbound worker against moto run as a server (S3, SQS with a dead-letter queue after
3 receives), on SQLite and PostgreSQL: mail SES stored arrives once whatever the notifications
do, mail that cannot be parsed is stored quarantined, mail that can never be stored is
recorded and dropped, and a failing message reaches the dead-letter queue after its
attempts."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from dispatch_server.cli import local_aws
from dispatch_server.db import tables as t
from dispatch_server.worker.consumer import backoff_seconds
from tests.helpers import make_mail
from tests.server.worker.conftest import (
    MAX_ATTEMPTS,
    InboundAws,
    new_inbox,
    rejections,
    rows,
    running_worker,
    s3_event,
    stored,
    until,
    worker_settings,
)

pytestmark = pytest.mark.anyio


async def test_mail_ses_stored_reaches_its_inbox_once(
    database_url: str, inbound: InboundAws
) -> None:
    settings = worker_settings(database_url, inbound)
    async with running_worker(settings) as worker:
        db = worker.services.db
        address = await new_inbox(db, "bot")
        message_id = inbound.put(
            make_mail(address, subject="Your code is 482913"), recipient=address
        )
        await until(lambda: inbound.count() == 0, what="the queue to empty")
        [row] = await stored(db)
        assert (row.provider_message_id, row.door, row.address) == (message_id, "ses_sqs", address)
        assert row.mail_from == "sender@example.com"  # SES's Return-Path
        # The OTP was extracted as for any other door.
        [otp] = await rows(db, sa.select(t.artifacts.c.value).where(t.artifacts.c.kind == "otp"))
        assert otp.value == "482913"
        await until(lambda: worker.stats.processed == 2)  # S3's test event, then the mail
        assert worker.stats.failed == 0
        assert await rejections(db) == []
        await worker.stop()
        [beat] = await rows(db, sa.select(t.worker_heartbeats))
        assert (beat.processed, beat.failed) == (2, 0)
        assert beat.stopped_at is not None and beat.last_beat_at >= beat.started_at
        assert beat.queue_lag_seconds is not None and 0 <= beat.queue_lag_seconds < 60


async def test_a_redelivered_or_repeated_notification_stores_nothing_twice(
    database_url: str, inbound: InboundAws
) -> None:
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        db = worker.services.db
        address = await new_inbox(db, "twice")
        key = "inbound/abcdefghij0123456789"
        inbound.put(make_mail(address), recipient=address, key=key)
        await until(lambda: inbound.count() == 0)
        # SQS delivers at least once; S3 may notify twice: the same event again, twice over.
        inbound.send(s3_event(inbound.bucket, key))
        inbound.send(s3_event(inbound.bucket, key, key))
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 4)
        found = await stored(db)
        assert [row.provider_message_id for row in found] == ["abcdefghij0123456789"]
        assert worker.stats.failed == 0


async def test_batched_out_of_order_events_and_encoded_keys(
    database_url: str, inbound: InboundAws
) -> None:
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        db = worker.services.db
        first, second = await new_inbox(db, "first"), await new_inbox(db, "second")
        # Objects stored outside the notified prefix, announced later, several records in
        # one notification, the later ones first.
        keys = ["in box/one+1", "in box/two 2", "plain/three"]
        ids = []
        for key, to in zip(keys, (first, second, first), strict=True):
            ids.append(key.rpartition("/")[2])
            raw = make_mail(to, subject=key)
            stamped = (
                f"Received: from x by inbound-smtp.us-east-1.amazonaws.com with SMTP id "
                f"{ids[-1]} for {to};\r\n Mon, 1 Dec 2026 10:00:00 +0000\r\n"
            ).encode() + raw
            inbound.s3.put_object(Bucket=inbound.bucket, Key=key, Body=stamped)
        removed = s3_event(inbound.bucket, "gone", event="ObjectRemoved:Delete")
        event = s3_event(inbound.bucket, *reversed(keys))
        event["Records"].insert(1, removed["Records"][0])
        inbound.send(event)
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 2)
        found = {(row.provider_message_id, row.address) for row in await stored(db)}
        assert found == {("one+1", first), ("two 2", second), ("three", first)}
        assert worker.stats.failed == 0


async def test_s3_test_event_is_deleted_and_nothing_is_recorded(
    database_url: str, inbound: InboundAws
) -> None:
    assert inbound.count() == 1  # S3 sent its test event when the notification was set up
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 1)
        assert await stored(worker.services.db) == []
        assert await rejections(worker.services.db) == []


async def test_another_bucket_is_recorded_and_dropped(
    database_url: str, inbound: InboundAws
) -> None:
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        db = worker.services.db
        await new_inbox(db, "bot")
        inbound.s3.create_bucket(Bucket="someone-elses")
        inbound.s3.put_object(Bucket="someone-elses", Key="inbound/x", Body=make_mail("b@x"))
        inbound.send(s3_event("someone-elses", "inbound/x"))
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 2)
        assert await stored(db) == []
        [rejection] = await rejections(db)
        assert (rejection.door, rejection.reason, rejection.location) == (
            "ses_sqs",
            "bucket_mismatch",
            "s3://someone-elses/inbound/x",
        )
        assert worker.stats.failed == 0 and inbound.dead_letters() == 0


async def test_an_object_over_the_limit_is_recorded_and_not_retried(
    database_url: str, inbound: InboundAws
) -> None:
    settings = worker_settings(database_url, inbound, DISPATCH_MAX_MESSAGE_BYTES=4096)
    async with running_worker(settings) as worker:
        db = worker.services.db
        address = await new_inbox(db, "big")
        huge = make_mail(address, text="x" * 10_000)
        message_id = inbound.put(huge, recipient=address)
        # And one whose notification understates its size: the read stops at the limit.
        key = "elsewhere/understated"  # not notified by S3 itself: only the event below
        inbound.s3.put_object(Bucket=inbound.bucket, Key=key, Body=huge)
        event = s3_event(inbound.bucket, key)
        event["Records"][0]["s3"]["object"]["size"] = 10
        inbound.send(event)
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 3)
        assert await stored(db) == []
        found = sorted(
            (r.provider_message_id, r.reason, r.size_bytes >= 10_000) for r in await rejections(db)
        )
        assert found == sorted(
            [(message_id, "message_too_large", True), ("understated", "message_too_large", True)]
        )
        assert worker.stats.failed == 0 and inbound.dead_letters() == 0


def _unparseable_kinds(address: str) -> dict[str, tuple[bytes, bool]]:
    """Mail parse_message refuses, each as (raw, whether SES names its recipient in its
    Received header): too many parts, MIME nested deeper than the cap, From and To with
    comments nested far past what an address parser reads, and the To address alone past
    the header cap. Each says a code in its subject, which must not be extracted."""
    to = address.encode()
    mime = b"MIME-Version: 1.0\r\n"
    nested = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(2000)
    )
    parts = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + b"".join(
        b"--b\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(5)
    )
    comments = b"(" * 1500 + b")" * 1500
    return {
        "parts": (b"To: " + to + b"\r\nSubject: code 482913\r\n" + mime + parts, True),
        "depth": (b"To: " + to + b"\r\nSubject: code 482913\r\n" + mime + nested, True),
        "from": (
            b"From: x@evil.example " + comments + b"\r\nTo: " + to + b"\r\n"
            b"Subject: code 482913\r\n\r\nYour code is 482913\r\n",
            True,
        ),
        # SES names nobody (two recipients): the To header, unreadable, is scanned instead.
        "to": (
            b"From: a@example.com\r\nTo: " + comments + b" " + to + b", b@elsewhere.example\r\n"
            b"Subject: code 482913\r\n\r\nYour code is 482913\r\n",
            False,
        ),
        "long to": (
            b"From: a@example.com\r\nTo: " + to + b", " + b"x" * 40_000 + b"@elsewhere.example"
            b"\r\nSubject: code 482913\r\n\r\nYour code is 482913\r\n",
            False,
        ),
    }


async def test_mail_that_cannot_be_parsed_is_stored_quarantined_with_its_raw_mime(
    database_url: str, inbound: InboundAws
) -> None:
    """SES said 250 for it already: refusing it now would lose it."""
    settings = worker_settings(database_url, inbound, DISPATCH_MAX_MIME_PARTS=3)
    async with running_worker(settings) as worker:
        db = worker.services.db
        address = await new_inbox(db, "known")
        kinds = _unparseable_kinds(address)
        sent = {
            inbound.put(raw, recipient=address if named else None): (name, raw)
            for name, (raw, named) in kinds.items()
        }
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 1 + len(kinds))
        found = await rows(
            db,
            sa.select(
                t.messages.c.provider_message_id,
                t.messages.c.subject,
                t.messages.c.from_address,
                t.messages.c.text_body,
                t.messages.c.raw_mime,
                t.message_security.c.folder,
                t.message_security.c.details,
                t.inboxes.c.address,
            )
            .join(t.message_security, t.message_security.c.message_id == t.messages.c.id)
            .join(t.inboxes, t.inboxes.c.id == t.messages.c.inbox_id),
        )
        assert sorted(sent[row.provider_message_id][0] for row in found) == sorted(kinds)
        for row in found:
            name, raw = sent[row.provider_message_id]
            assert (row.address, row.folder, row.subject) == (address, "quarantine", "code 482913")
            assert row.raw_mime.endswith(raw), name  # under the headers SES put on top
            assert row.from_address is None and row.text_body is None, name
            assert row.details["folder_reason"].startswith("the message could not be parsed")
        artifacts = await rows(db, sa.select(t.artifacts.c.value))
        assert artifacts == []  # nothing is extracted from what could not be parsed
        assert await rejections(db) == []
        assert worker.stats.failed == 0 and inbound.dead_letters() == 0


async def test_mail_for_no_inbox_is_recorded_and_dropped(
    database_url: str, inbound: InboundAws
) -> None:
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        db = worker.services.db
        await new_inbox(db, "known")
        nobody = inbound.put(make_mail("nobody@dispatch.test"), recipient="nobody@dispatch.test")
        # Unreadable, and naming nobody here either: nowhere to store it.
        unreadable = inbound.put(
            b"To: " + b"(" * 1500 + b"nobody@dispatch.test" + b")" * 1500 + b"\r\n\r\nhi",
            recipient=None,
        )
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 3)
        # SQS delivers the same notification again: dropped again, recorded once.
        inbound.send(s3_event(inbound.bucket, f"{local_aws.KEY_PREFIX}{nobody}"))
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 4)
        assert await stored(db) == []
        found = sorted((r.provider_message_id, r.reason) for r in await rejections(db))
        assert found == sorted([(nobody, "unknown_recipient"), (unreadable, "unknown_recipient")])
        assert worker.stats.failed == 0 and inbound.dead_letters() == 0


async def test_recipients_without_an_ses_received_header_come_from_to_and_cc(
    database_url: str, inbound: InboundAws
) -> None:
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        db = worker.services.db
        one, two = await new_inbox(db, "one"), await new_inbox(db, "two")
        raw = make_mail(f"{one}, someone@elsewhere.example", headers={"Cc": two})
        message_id = inbound.put(raw, recipient=None)  # SES names no one: two recipients
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 2)
        found = sorted((row.provider_message_id, row.address) for row in await stored(db))
        assert found == [(message_id, one), (message_id, two)]


async def test_a_message_that_keeps_failing_reaches_the_dead_letter_queue(
    database_url: str, inbound: InboundAws
) -> None:
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        db = worker.services.db
        address = await new_inbox(db, "bot")
        inbound.send("this is no S3 event")
        inbound.send(s3_event(inbound.bucket, "inbound/never-stored"))  # NoSuchKey
        inbound.put(make_mail(address), recipient=address)  # the others go on meanwhile
        await until(lambda: inbound.dead_letters() == 2, what="two dead letters", seconds=30)
        await until(lambda: inbound.count() == 0)
        assert worker.stats.failed == 2 * MAX_ATTEMPTS
        assert len(await stored(db)) == 1
        dead = inbound.sqs.receive_message(
            QueueUrl=inbound.setup.dlq_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        bodies = sorted(m["Body"] for m in dead)
        assert bodies[0] == "this is no S3 event"
        assert json.loads(bodies[1])["Records"][0]["s3"]["object"]["key"] == "inbound/never-stored"


def test_backoff_doubles_up_to_twelve_hours() -> None:
    assert [backoff_seconds(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_seconds(40, 30) == 43200
    assert backoff_seconds(3, 0) == 0


async def test_a_failure_hides_the_message_for_the_backoff(
    database_url: str, inbound: InboundAws
) -> None:
    settings = worker_settings(database_url, inbound, DISPATCH_WORKER_RETRY_SECONDS=3)
    async with running_worker(settings) as worker:
        inbound.send("not an event")
        await until(lambda: worker.stats.failed == 1)
        await until(lambda: inbound.count() == 1)  # the test event is gone, this one waits
        attributes = inbound.sqs.get_queue_attributes(
            QueueUrl=inbound.setup.queue_url,
            AttributeNames=["ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
        await until(lambda: worker.stats.failed == 2, seconds=10)  # back after ~3 s


async def test_the_worker_refuses_a_queue_without_a_dead_letter_queue(
    database_url: str, inbound: InboundAws
) -> None:
    from dispatch_server.worker.runner import WorkerSetupError

    bare = inbound.sqs.create_queue(QueueName="no-redrive")["QueueUrl"]
    settings = worker_settings(database_url, inbound, DISPATCH_SQS_QUEUE_URL=bare)
    with pytest.raises(WorkerSetupError, match="no redrive policy"):
        async with running_worker(settings) as worker:
            await worker.task


async def test_ses_verdict_headers_decide_the_folder(
    database_url: str, inbound: InboundAws
) -> None:
    async with running_worker(worker_settings(database_url, inbound)) as worker:
        db = worker.services.db
        address = await new_inbox(db, "scanned")
        spam = make_mail(address, headers={"X-SES-Spam-Verdict": "FAIL"})
        inbound.put(spam, recipient=address)  # SES's own PASS header comes first: it wins
        message_id = inbound.put(make_mail(address), recipient=address)
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 3)
        verdicts = await rows(
            db,
            sa.select(t.messages.c.provider_message_id, t.message_security.c.spam_verdict).join(
                t.message_security, t.message_security.c.message_id == t.messages.c.id
            ),
        )
        assert {row.spam_verdict for row in verdicts} == {"pass"}
        assert message_id in {row.provider_message_id for row in verdicts}
