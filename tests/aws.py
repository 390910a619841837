"""A moto server (S3, SQS, SES, SNS) run as its own process, shared by the test session, and
fake AWS credentials: the fixtures of every test that talks to AWS. `inbound` sets up the
production inbound path on it (a bucket, a queue with a dead-letter queue after 3 receives,
the bucket's notification to the queue) with `dispatch-server local-aws setup`'s own code."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import attrs
import pytest

from dispatch_server.cli import local_aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

MOTO_START_SECONDS = 30.0
REGION = "us-east-1"
MAX_ATTEMPTS = 3  # the dead-letter queue's maxReceiveCount, and the worker's in the tests
# Where else the default chain looks for credentials.
OTHER_CREDENTIALS = [
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto server on a free local port, shared by the session (each test
    resets it through `moto`)."""
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with log_path.open("wb") as log:  # a file, not a pipe: moto logs every request
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + MOTO_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"moto did not answer in {MOTO_START_SECONDS:.0f} s:\n"
                        f"{log_path.read_text()}"
                    )
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials in the environment, for the default chain, and nothing of this
    machine's own AWS setup."""
    for name in OTHER_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto(moto_server: str, aws_credentials: None) -> str:
    """The moto server's URL, emptied of what earlier tests made, with fake credentials."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


# --- the production inbound path: SES -> S3 -> SQS (with a dead-letter queue) ----------


@attrs.define
class InboundAws:
    url: str
    s3: S3Client
    sqs: SQSClient
    setup: local_aws.InboundSetup

    @property
    def bucket(self) -> str:
        return self.setup.bucket

    def put(self, raw: bytes, *, recipient: str | None, key: str | None = None) -> str:
        """Store `raw` as SES would; returns its SES message id."""
        message_id = local_aws.ses_message_id()
        stamped = local_aws.as_ses_stores(raw, message_id, recipient=recipient)
        self.s3.put_object(
            Bucket=self.bucket, Key=key or f"{local_aws.KEY_PREFIX}{message_id}", Body=stamped
        )
        return message_id

    def send(self, body: dict[str, Any] | str) -> None:
        """Put a message on the queue as it is (a notification of our making)."""
        text = body if isinstance(body, str) else json.dumps(body)
        self.sqs.send_message(QueueUrl=self.setup.queue_url, MessageBody=text)

    def count(self, url: str | None = None) -> int:
        """Messages in the queue (or `url`), visible, in flight or delayed."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.setup.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def dead_letters(self) -> int:
        return self.count(self.setup.dlq_url)

    def drain(self) -> None:
        """Empty the queue (S3's test event, sent when the notification was set up)."""
        self.sqs.purge_queue(QueueUrl=self.setup.queue_url)


def s3_event(bucket: str, *keys: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    """An S3 event notification as S3 writes it: keys URL-encoded as in a form (a space is
    `+`), a record each."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-12-02T10:00:00.000Z",
                "eventName": event,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "dispatch-inbound",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": 100, "eTag": "0"},
                },
            }
            for key in keys
        ]
    }


@pytest.fixture
def inbound(moto: str) -> InboundAws:
    s3, sqs = local_aws.clients(moto, REGION)
    setup = local_aws.set_up(s3, sqs, max_receive_count=MAX_ATTEMPTS, endpoint_url=moto)
    return InboundAws(moto, s3, sqs, setup)
