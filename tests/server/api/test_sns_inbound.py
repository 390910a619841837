"""SES receipt notifications through POST /v1/webhooks/sns, over real HTTP on both databases:
SNS messages signed with a key made here (as for the delivery feedback: one verifier for
both), with the mail inline (UTF-8 or base64) or in S3 on a moto server run as a process.
Received mail is stored once by SES's message id, whichever route brings it; what cannot be
stored is recorded and answered 200; forgeries change nothing."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from dispatch_server.cli import local_aws
from dispatch_server.db import Database
from dispatch_server.db import tables as t
from dispatch_server.services import Services
from tests.aws import REGION, InboundAws
from tests.conftest import BACKENDS, LiveServer, _ServerThread, fresh_database_url, make_settings
from tests.helpers import error_code, make_mail
from tests.server.api.test_send import Agent
from tests.server.api.test_sns_webhook import Feedback, notification
from tests.server.outbound.test_sns import OTHER_KEY, TOPIC
from tests.server.worker.conftest import running_worker, until, worker_settings

pytestmark = pytest.mark.anyio

BUCKET = "dispatch-inbound"


@pytest.fixture(scope="module", params=BACKENDS)
def ses_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, moto_server: str
) -> Iterator[tuple[LiveServer, Services]]:
    urls = fresh_database_url(request.param, tmp_path_factory, request)
    settings = make_settings(
        next(urls),
        DISPATCH_SNS_TOPIC_ARNS=TOPIC,
        DISPATCH_SES_INBOUND_S3_BUCKET=BUCKET,
        DISPATCH_AWS_ENDPOINT_URL=moto_server,
        DISPATCH_AWS_REGION=REGION,
        DISPATCH_MAX_MESSAGE_BYTES=8192,
    )
    with pytest.MonkeyPatch.context() as env:  # the server's S3 client finds these
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        thread = _ServerThread(settings)
        try:
            live = thread.start()
            yield live, thread.app.state.services
        finally:
            thread.stop()
            next(urls, None)


@pytest.fixture
def ses(ses_server: tuple[LiveServer, Services], moto: str) -> Feedback:
    s3, _ = local_aws.clients(moto, REGION)
    s3.create_bucket(Bucket=BUCKET)
    return Feedback(*ses_server)


def received(
    message_id: str,
    recipients: list[str],
    *,
    content: str | None = None,
    encoding: str = "UTF8",
    bucket: str = BUCKET,
    key: str | None = None,
    action: str | None = None,
) -> str:
    """An SES receipt notification, as the SES developer guide shows one."""
    if content is not None:
        act: dict[str, Any] = {"type": "SNS", "topicArn": TOPIC, "encoding": encoding}
    else:
        act = {
            "type": "S3",
            "topicArn": TOPIC,
            "bucketName": bucket,
            "objectKeyPrefix": "inbound/",
            "objectKey": key or f"inbound/{message_id}",
        }
    if action is not None:
        act = {"type": action, "functionArn": "arn:aws:lambda:us-west-2:123456789012:x"}
    document: dict[str, Any] = {
        "notificationType": "Received",
        "receipt": {
            "timestamp": "2026-12-02T10:00:00.000Z",
            "processingTimeMillis": 222,
            "recipients": recipients,
            "spamVerdict": {"status": "PASS"},
            "virusVerdict": {"status": "PASS"},
            "spfVerdict": {"status": "PASS"},
            "dkimVerdict": {"status": "PASS"},
            "dmarcVerdict": {"status": "PASS"},
            "action": act,
        },
        "mail": {
            "timestamp": "2026-12-02T10:00:00.000Z",
            "source": "sender@example.com",
            "messageId": message_id,
            "destination": recipients,
            "headersTruncated": False,
            "headers": [],
            "commonHeaders": {"returnPath": "sender@example.com"},
        },
    }
    if content is not None:
        document["content"] = content
    return json.dumps(document)


def stored(server: LiveServer, provider_id: str) -> list[Any]:
    async def read() -> list[Any]:
        db = Database(server.database_url)
        try:
            return await db.run_read(
                lambda conn: list(
                    conn.execute(
                        sa.select(
                            t.messages.c.inbox_id, t.messages.c.door, t.messages.c.mail_from
                        ).where(t.messages.c.provider_message_id == provider_id)
                    )
                )
            )
        finally:
            await db.dispose()

    return asyncio.run(read())


def rejected(server: LiveServer, provider_id: str) -> list[Any]:
    async def read() -> list[Any]:
        db = Database(server.database_url)
        table = t.inbound_rejections
        try:
            return await db.run_read(
                lambda conn: list(
                    conn.execute(sa.select(table).where(table.c.provider_message_id == provider_id))
                )
            )
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_inline_mail_in_utf8_is_stored_once(ses: Feedback) -> None:
    agent = Agent(ses.server)
    raw = make_mail(agent.address, subject="Your code is 318204").decode()
    document = notification(received("sns-utf8-1", [agent.address], content=raw))
    first = ses.post(document)
    assert first.status_code == 200 and first.json() == {"outcome": "stored"}, first.text
    # SNS delivers again (a retry, or a new SNS MessageId for the same mail).
    assert ses.post(document).json() == {"outcome": "duplicate"}
    again = notification(received("sns-utf8-1", [agent.address], content=raw))
    assert ses.post(again).json() == {"outcome": "duplicate"}
    [row] = stored(ses.server, "sns-utf8-1")
    assert (row.inbox_id, row.door) == (agent.inbox_id, "ses_sns")
    assert row.mail_from == "sender@example.com"  # mail.source
    assert agent.get("/otp").json()["otp"]["code"] == "318204"


def test_inline_mail_in_base64_is_stored_for_the_receipts_recipients(ses: Feedback) -> None:
    first, second = Agent(ses.server), Agent(ses.server)
    # The receipt names both recipients, whatever the headers say (one is a Bcc).
    raw = make_mail(first.address)
    content = base64.b64encode(raw).decode()
    document = received(
        "sns-b64-1", [first.address, second.address], content=content, encoding="BASE64"
    )
    assert ses.post(notification(document)).json() == {"outcome": "stored"}
    assert {row.inbox_id for row in stored(ses.server, "sns-b64-1")} == {
        first.inbox_id,
        second.inbox_id,
    }
    assert second.get("/messages").json()["data"][0]["subject"] == "Hello"


def test_mail_in_s3_is_fetched_and_stored(ses: Feedback, moto: str) -> None:
    agent = Agent(ses.server)
    s3, _ = local_aws.clients(moto, REGION)
    s3.put_object(Bucket=BUCKET, Key="inbound/sns-s3-1", Body=make_mail(agent.address))
    document = notification(received("sns-s3-1", [agent.address]))
    assert ses.post(document).json() == {"outcome": "stored"}
    assert [row.door for row in stored(ses.server, "sns-s3-1")] == ["ses_sns"]


def test_mail_in_s3_that_cannot_be_read_is_a_503_and_sns_tries_again(
    ses: Feedback, moto: str
) -> None:
    agent = Agent(ses.server)
    document = notification(received("sns-s3-late", [agent.address]))
    response = ses.post(document)
    assert response.status_code == 503 and error_code(response) == "inbound_object_unavailable"
    assert stored(ses.server, "sns-s3-late") == []
    s3, _ = local_aws.clients(moto, REGION)
    s3.put_object(Bucket=BUCKET, Key="inbound/sns-s3-late", Body=make_mail(agent.address))
    assert ses.post(document).json() == {"outcome": "stored"}  # SNS's retry


def test_what_cannot_be_stored_is_recorded_and_answered_200(ses: Feedback, moto: str) -> None:
    agent = Agent(ses.server)
    s3, _ = local_aws.clients(moto, REGION)
    cases = {
        "sns-nobody": received("sns-nobody", ["nobody@dispatch.test"], content="To: x\r\n\r\nhi"),
        "sns-other-bucket": received("sns-other-bucket", [agent.address], bucket="elsewhere"),
        "sns-huge-inline": received(
            "sns-huge-inline",
            [agent.address],
            content=make_mail(agent.address, text="x" * 9000).decode(),
        ),
        "sns-huge-s3": received("sns-huge-s3", [agent.address]),
    }
    s3.put_object(
        Bucket=BUCKET, Key="inbound/sns-huge-s3", Body=make_mail(agent.address, text="y" * 9000)
    )
    reasons = {}
    for provider_id, document in cases.items():
        response = ses.post(notification(document))
        assert response.status_code == 200 and response.json() == {"outcome": "refused"}, (
            provider_id,
            response.text,
        )
        [row] = rejected(ses.server, provider_id)
        assert row.door == "ses_sns"
        reasons[provider_id] = row.reason
        assert stored(ses.server, provider_id) == []
    assert reasons == {
        "sns-nobody": "unknown_recipient",
        "sns-other-bucket": "bucket_mismatch",
        "sns-huge-inline": "message_too_large",
        "sns-huge-s3": "message_too_large",
    }


def test_mail_that_cannot_be_parsed_is_stored_quarantined(ses: Feedback, moto: str) -> None:
    """SES accepted it: refusing it would lose it. Inline or in S3, nested past the cap or
    with a From nobody can read, it is kept with its headers and raw MIME, quarantined."""
    agent = Agent(ses.server)
    head = f"To: {agent.address}\r\nSubject: unreadable 318204\r\nMIME-Version: 1.0\r\n"
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(60)
    )
    comments = "(" * 1500 + ")" * 1500
    kinds = {
        "sns-deep-inline": head + nested,
        "sns-from-inline": f"From: a@example.com {comments}\r\n{head}\r\nYour code: 318204",
        "sns-deep-s3": head + nested,
    }
    s3, _ = local_aws.clients(moto, REGION)
    s3.put_object(Bucket=BUCKET, Key="inbound/sns-deep-s3", Body=kinds["sns-deep-s3"].encode())
    for provider_id, raw in kinds.items():
        inline = None if provider_id.endswith("-s3") else raw
        document = notification(received(provider_id, [agent.address], content=inline))
        response = ses.post(document)
        assert response.json() == {"outcome": "stored"}, (provider_id, response.text)
        assert rejected(ses.server, provider_id) == []
    page = agent.get("/messages", folder="quarantine").json()["data"]
    assert sorted(m["subject"] for m in page) == ["unreadable 318204"] * len(kinds)
    for summary in page:
        message = agent.get(f"/messages/{summary['id']}").json()
        assert message["folder"] == "quarantine" and message["from_address"] is None
        reason = message["authentication"]["folder_reason"]
        assert reason.startswith("the message could not be parsed"), reason
        stored_raw = agent.get(f"/messages/{summary['id']}/raw")
        assert stored_raw.content.decode() in kinds.values()
    assert agent.get("/messages").json()["data"] == []  # the inbox shows none of them
    assert agent.get("/otp").json()["otp"] is None  # nor gives a code from them


def test_other_receipt_actions_and_broken_receipts_are_ignored(ses: Feedback) -> None:
    agent = Agent(ses.server)
    lambda_action = received("sns-lambda", [agent.address], action="Lambda")
    bad_base64 = received("sns-bad", [agent.address], content="%%%", encoding="BASE64")
    for document in (lambda_action, bad_base64, json.dumps({"notificationType": "Received"})):
        response = ses.post(notification(document))
        assert response.json() == {"outcome": "ignored"}, response.text
    assert stored(ses.server, "sns-lambda") == [] and stored(ses.server, "sns-bad") == []


def test_a_forged_receipt_stores_nothing(ses: Feedback) -> None:
    agent = Agent(ses.server)
    raw = make_mail(agent.address).decode()
    forged = notification(received("sns-forged", [agent.address], content=raw), key=OTHER_KEY)
    response = ses.post(forged)
    assert response.status_code == 403 and error_code(response) == "sns_message_refused"
    tampered = notification(received("sns-tampered", [agent.address], content=raw))
    tampered["Message"] = tampered["Message"].replace("Hello", "Hullo")
    assert ses.post(tampered).status_code == 403
    assert stored(ses.server, "sns-forged") == [] and stored(ses.server, "sns-tampered") == []
    assert agent.get("/messages").json()["data"] == []


async def test_the_same_mail_through_the_worker_route_is_not_stored_twice(
    ses: Feedback, inbound: InboundAws
) -> None:
    """An S3 action that also notifies SNS, and the bucket's notification to SQS: both name
    SES's message id, the provider id of either route."""
    agent = Agent(ses.server)
    message_id = inbound.put(make_mail(agent.address), recipient=agent.address)
    settings = worker_settings(ses.server.database_url, inbound)
    async with running_worker(settings) as worker:
        await until(lambda: inbound.count() == 0 and worker.stats.processed == 2)
    document = notification(received(message_id, [agent.address]))
    response = await asyncio.to_thread(ses.post, document)
    assert response.json() == {"outcome": "duplicate"}
    assert [row.door for row in await asyncio.to_thread(stored, ses.server, message_id)] == [
        "ses_sqs"
    ]


def test_the_receipts_verdicts_decide_the_folder(ses: Feedback) -> None:
    agent = Agent(ses.server)
    raw = make_mail(agent.address).decode()
    document = json.loads(received("sns-virus", [agent.address], content=raw))
    document["receipt"]["virusVerdict"] = {"status": "FAIL"}
    assert ses.post(notification(json.dumps(document))).json() == {"outcome": "stored"}
    found = agent.get("/messages", folder="all").json()["data"]
    assert [m["folder"] for m in found] == ["quarantine"]
