"""`dispatch-server local-aws`: the production inbound path on a local AWS imitation (a moto
server), to run the worker end to end on one machine.

`local-aws setup` creates what SES's receipt rule would write to and what notifies the worker:
the bucket, the queue with a dead-letter queue (redrive policy), the queue policy that lets
S3 send to it, and the bucket's event notification; then prints the variables to run
`dispatch-server worker` with. `local-aws deliver` stores a message in the bucket as SES
would (its key a new SES-like message id, with SES's Return-Path and Received headers), and
the notification reaches the worker.

It only talks to the endpoint it is given (`--endpoint-url` or DISPATCH_AWS_ENDPOINT_URL):
never to AWS itself.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import boto3
from botocore.exceptions import ClientError

from dispatch_server.cli._common import CliError, read_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

DEFAULT_BUCKET = "dispatch-inbound"
DEFAULT_QUEUE = "dispatch-inbound"
DEFAULT_REGION = "us-east-1"
KEY_PREFIX = "inbound/"


@attrs.frozen
class InboundSetup:
    bucket: str
    queue_url: str
    dlq_url: str
    region: str
    endpoint_url: str


def clients(endpoint_url: str, region: str) -> tuple[S3Client, SQSClient]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    s3: S3Client = session.client("s3", endpoint_url=endpoint_url)
    sqs: SQSClient = session.client("sqs", endpoint_url=endpoint_url)
    return s3, sqs


def set_up(
    s3: S3Client,
    sqs: SQSClient,
    *,
    bucket: str = DEFAULT_BUCKET,
    queue: str = DEFAULT_QUEUE,
    max_receive_count: int = 8,
    region: str = DEFAULT_REGION,
    endpoint_url: str = "",
) -> InboundSetup:
    """Create (or bring up to date) the bucket, the queue and its dead-letter queue, and the
    notification between them. Safe to run again."""
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
    dlq_url = sqs.create_queue(
        QueueName=f"{queue}-dlq", Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = _arn(sqs, queue_url)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            ),
            "Policy": json.dumps(queue_policy(queue_arn, bucket_arn)),
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "dispatch-inbound",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    # The receipt rule's objectKeyPrefix: SES writes there only.
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": KEY_PREFIX}]}},
                }
            ]
        },
    )
    return InboundSetup(bucket, queue_url, dlq_url, region, endpoint_url)


def queue_policy(queue_arn: str, bucket_arn: str) -> dict[str, Any]:
    """What lets S3 send the bucket's notifications to the queue (and nothing else)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3SendsInboundNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": bucket_arn}},
            }
        ],
    }


def _arn(sqs: SQSClient, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def ses_message_id() -> str:
    """A new id shaped like SES's inbound message ids (lower-case base32, 20 characters)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(20))


def as_ses_stores(
    raw: bytes, message_id: str, *, recipient: str | None, sender: str = "sender@example.com"
) -> bytes:
    """`raw` with the headers SES's receipt puts on top: Return-Path (the envelope sender)
    and a Received header naming the message id, and the recipient when there is one."""
    to = f"\r\n for {recipient}" if recipient else ""
    stamp = (
        f"Return-Path: <{sender}>\r\n"
        f"Received: from mail.example.com (mail.example.com [192.0.2.25])\r\n"
        f" by inbound-smtp.us-east-1.amazonaws.com with SMTP id {message_id}{to};\r\n"
        f" {formatdate(usegmt=True)}\r\n"
        "X-SES-Spam-Verdict: PASS\r\n"
        "X-SES-Virus-Verdict: PASS\r\n"
    )
    return stamp.encode() + raw


def deliver(s3: S3Client, bucket: str, raw: bytes, *, recipient: str | None) -> str:
    """Store `raw` as SES would for `recipient`; returns its message id."""
    message_id = ses_message_id()
    stored = as_ses_stores(raw, message_id, recipient=recipient)
    s3.put_object(Bucket=bucket, Key=KEY_PREFIX + message_id, Body=stored)
    return message_id


# --- the command -----------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    command = commands.add_parser(
        "local-aws",
        help="create the inbound bucket, queue and notification on a local moto server, or "
        "store a message there as SES would",
    )
    command.add_argument(
        "--endpoint-url",
        help="the moto server (DISPATCH_AWS_ENDPOINT_URL); required: never AWS itself",
    )
    command.add_argument(
        "--region", help=f"(DISPATCH_AWS_REGION; default {DEFAULT_REGION})", default=None
    )
    command.add_argument(
        "--bucket", help=f"(DISPATCH_SES_INBOUND_S3_BUCKET; default {DEFAULT_BUCKET})"
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    setup = actions.add_parser("setup", help="create the bucket, queue, DLQ and notification")
    setup.add_argument("--queue", default=DEFAULT_QUEUE, help=f"(default {DEFAULT_QUEUE})")
    setup.set_defaults(run=run_setup)
    put = actions.add_parser("deliver", help="store a message (a file, or stdin) as SES would")
    put.add_argument("--to", required=True, help="the envelope recipient, an inbox address")
    put.add_argument("file", nargs="?", help="the raw message (default: standard input)")
    put.set_defaults(run=run_deliver)


def _where(args: argparse.Namespace) -> tuple[str, str, str, int]:
    settings = read_settings({})
    worker = settings.worker
    endpoint = args.endpoint_url or worker.aws_endpoint_url
    if not endpoint:
        raise CliError(
            "give the moto server with --endpoint-url or DISPATCH_AWS_ENDPOINT_URL "
            "(local-aws never talks to AWS itself)"
        )
    region = args.region or worker.aws_region or DEFAULT_REGION
    bucket = args.bucket or worker.bucket or DEFAULT_BUCKET
    return endpoint, region, bucket, worker.max_attempts


def run_setup(args: argparse.Namespace) -> None:
    endpoint, region, bucket, attempts = _where(args)
    s3, sqs = clients(endpoint, region)
    try:
        made = set_up(
            s3,
            sqs,
            bucket=bucket,
            queue=args.queue,
            max_receive_count=attempts,
            region=region,
            endpoint_url=endpoint,
        )
    except Exception as exc:
        raise CliError(f"cannot set up {endpoint}: {exc}") from None
    print(f"# bucket s3://{made.bucket} notifies {made.queue_url} (dead letters: {made.dlq_url})")
    for name, value in (
        ("DISPATCH_AWS_ENDPOINT_URL", made.endpoint_url),
        ("DISPATCH_AWS_REGION", made.region),
        ("DISPATCH_SES_INBOUND_S3_BUCKET", made.bucket),
        ("DISPATCH_SQS_QUEUE_URL", made.queue_url),
        ("DISPATCH_SQS_DLQ_URL", made.dlq_url),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        print(f"export {name}={value}")


def run_deliver(args: argparse.Namespace) -> None:
    endpoint, region, bucket, _ = _where(args)
    raw = Path(args.file).read_bytes() if args.file else sys.stdin.buffer.read()
    s3, _sqs = clients(endpoint, region)
    try:
        message_id = deliver(s3, bucket, raw, recipient=args.to)
    except Exception as exc:
        raise CliError(f"cannot store the message in s3://{bucket}: {exc}") from None
    print(f"stored s3://{bucket}/{KEY_PREFIX}{message_id}")
