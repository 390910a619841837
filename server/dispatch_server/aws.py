"""The AWS clients of the inbound path (S3, SQS, and CloudWatch for the queue's metrics), made
from the `Worker` settings.

Credentials come from the usual AWS chain (environment, profile, container or instance role);
`DISPATCH_AWS_ENDPOINT_URL` points both at another endpoint (a local moto server). Each
client has a session of its own, since boto3's default session is not safe to share between
threads, while a client is: the worker calls one from several threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from dispatch_server.config import Worker

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
# The worker retries a failed message itself (with backoff, through SQS); the client's own
# retries are only for a blip.
CLIENT_ATTEMPTS = 3


def _config(*, read_timeout: float, pool: int) -> Config:
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": CLIENT_ATTEMPTS},
        max_pool_connections=pool,
    )


def s3_client(worker: Worker, *, pool: int = 10) -> S3Client:
    client: S3Client = boto3.session.Session().client(
        "s3",
        region_name=worker.aws_region,
        endpoint_url=worker.aws_endpoint_url,
        config=_config(read_timeout=READ_TIMEOUT_SECONDS, pool=pool),
    )
    return client


def sqs_client(worker: Worker, *, pool: int = 10) -> SQSClient:
    # A long poll holds the answer for up to 20 s: the read timeout must outlast it.
    client: SQSClient = boto3.session.Session().client(
        "sqs",
        region_name=worker.aws_region,
        endpoint_url=worker.aws_endpoint_url,
        config=_config(read_timeout=worker.wait_seconds + READ_TIMEOUT_SECONDS, pool=pool),
    )
    return client


def cloudwatch_client(worker: Worker) -> CloudWatchClient:
    client: CloudWatchClient = boto3.session.Session().client(
        "cloudwatch",
        region_name=worker.aws_region,
        endpoint_url=worker.aws_endpoint_url,
        config=_config(read_timeout=READ_TIMEOUT_SECONDS, pool=2),
    )
    return client
