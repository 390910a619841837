"""The SQS queue the worker reads: receiving, deleting, backing off, and what the queue says of
itself (depth, redrive policy, the age of its oldest message). Every method blocks: the
worker and the ops status call them in threads.

The age of the oldest message is not a queue attribute: SQS publishes it to CloudWatch each
minute as ApproximateAgeOfOldestMessage (`AWS/SQS`, by QueueName), and a peek at the queue
would count as a receive towards the redrive policy's maxReceiveCount. `oldest_message_age`
reads the metric's latest datapoint. What the worker knows itself is the age of each message
it receives (its SentTimestamp), which it reports as the queue lag.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import MessageTypeDef

MAX_BATCH = 10  # SQS's limit on one receive
# How far back the latest datapoint of the oldest message's age is looked for: SQS publishes
# it each minute, CloudWatch shows it a few minutes late, and an idle queue stops publishing.
AGE_LOOKBACK = timedelta(minutes=15)


@attrs.frozen
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int  # ApproximateReceiveCount: 1 at the first receive
    sent_at: datetime | None


@attrs.frozen
class Depth:
    visible: int  # ApproximateNumberOfMessages
    in_flight: int  # ...NotVisible: received, not yet deleted
    delayed: int  # ...Delayed


@attrs.frozen
class Redrive:
    dead_letter_arn: str
    max_receive_count: int


class Queue:
    def __init__(self, client: SQSClient, url: str) -> None:
        self.client = client
        self.url = url

    def receive(
        self, max_messages: int, *, wait_seconds: int, visibility_seconds: int
    ) -> list[QueueMessage]:
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(max_messages, MAX_BATCH)),
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return [_message(m) for m in response.get("Messages", [])]

    def delete(self, receipt_handle: str) -> None:
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle)

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again in `seconds` (0: now)."""
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    def depth(self) -> Depth:
        attributes = self._attributes(
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
        return Depth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    def redrive(self) -> Redrive | None:
        """The queue's redrive policy: where messages received too often go. None without."""
        policy = self._attributes("RedrivePolicy").get("RedrivePolicy")
        if not policy:
            return None
        document = json.loads(policy)
        return Redrive(
            dead_letter_arn=str(document["deadLetterTargetArn"]),
            max_receive_count=int(document["maxReceiveCount"]),
        )

    def url_of(self, arn: str) -> str:
        """The URL of the queue `arn` names (arn:aws:sqs:<region>:<account>:<name>)."""
        parts = arn.split(":")
        response = self.client.get_queue_url(QueueName=parts[-1], QueueOwnerAWSAccountId=parts[4])
        return response["QueueUrl"]

    def _attributes(self, *names: QueueAttributeNameType) -> dict[str, str]:
        response = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=list(names))
        return {str(name): value for name, value in response.get("Attributes", {}).items()}


@attrs.frozen
class OldestMessageAge:
    seconds: float
    measured_at: datetime  # the datapoint's minute


def oldest_message_age(
    cloudwatch: CloudWatchClient, queue_url: str, now: datetime
) -> OldestMessageAge | None:
    """The latest ApproximateAgeOfOldestMessage datapoint of the queue at `queue_url` within
    AGE_LOOKBACK; None when CloudWatch has none (a new or long-idle queue)."""
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_url.rstrip("/").rpartition("/")[2]}],
        StartTime=now - AGE_LOOKBACK,
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    points = [p for p in answer.get("Datapoints", []) if "Maximum" in p and "Timestamp" in p]
    if not points:
        return None
    latest = max(points, key=lambda point: point["Timestamp"])
    return OldestMessageAge(seconds=float(latest["Maximum"]), measured_at=latest["Timestamp"])


def _message(message: MessageTypeDef) -> QueueMessage:
    attributes = {str(name): value for name, value in message.get("Attributes", {}).items()}
    sent = attributes.get("SentTimestamp")
    return QueueMessage(
        message_id=message.get("MessageId", ""),
        receipt_handle=message.get("ReceiptHandle", ""),
        body=message.get("Body", ""),
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
    )
