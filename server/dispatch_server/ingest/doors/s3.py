"""S3's side of the production inbound path: the event notifications S3 sends to SQS when SES
stores a message, and fetching that message from the bucket within the size limit.

An event notification ("Event message structure" in the S3 user guide) is a JSON object with
`Records`, one per object event (S3 sends one today, but the format allows several), each
naming the bucket and the object key. The key is URL-encoded as in a form (`+` for a space,
`%2B` for a plus). When a notification is first configured S3 sends an `s3:TestEvent`, which
names no object.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import attrs
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TEST_EVENT = "s3:TestEvent"
MAX_RECORDS = 100  # S3 sends one record a notification; several are read, not unbounded
_MAX_KEY = 1024  # S3's own limit on a key, in UTF-8 bytes


class UnreadableNotification(Exception):
    """The SQS message is not an S3 event notification this worker can act on."""


@attrs.frozen
class ObjectCreated:
    """One record of a notification: an object was written."""

    bucket: str
    key: str  # decoded
    size: int | None  # as the event tells it, when it does
    event_name: str  # ObjectCreated:Put, ...


@attrs.frozen
class S3Notification:
    test_event: bool
    # Records about other events (ObjectRemoved, ...) are left out.
    created: tuple[ObjectCreated, ...]
    skipped: int  # records about other events


def parse_notification(body: str) -> S3Notification:
    """The S3 event notification in an SQS message body. Raises UnreadableNotification for
    anything else: not JSON, no `Records`, a record without a bucket name or key."""
    try:
        document = json.loads(body)
    except (RecursionError, ValueError):
        raise UnreadableNotification("the body is not JSON") from None
    if not isinstance(document, dict):
        raise UnreadableNotification("the body is not a JSON object")
    if document.get("Event") == TEST_EVENT:
        return S3Notification(test_event=True, created=(), skipped=0)
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        raise UnreadableNotification("the body has no Records: not an S3 event notification")
    if len(records) > MAX_RECORDS:
        raise UnreadableNotification(f"more than {MAX_RECORDS} records")
    created: list[ObjectCreated] = []
    skipped = 0
    for record in records:
        found = _record(record)
        if found is None:
            skipped += 1
        else:
            created.append(found)
    return S3Notification(test_event=False, created=tuple(created), skipped=skipped)


def _record(record: object) -> ObjectCreated | None:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        raise UnreadableNotification("a record is not an S3 event")
    event_name = record.get("eventName")
    if not isinstance(event_name, str):
        raise UnreadableNotification("a record has no eventName")
    if not event_name.startswith("ObjectCreated:"):
        return None
    s3 = _object(record, "s3")
    bucket = _object(s3, "bucket").get("name")
    target = _object(s3, "object")
    key = target.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise UnreadableNotification("a record names no bucket or key")
    decoded = unquote_plus(key)
    if len(decoded.encode("utf-8", "surrogatepass")) > _MAX_KEY:
        raise UnreadableNotification("a record's key is longer than S3 allows")
    size = target.get("size")
    return ObjectCreated(
        bucket=bucket,
        key=decoded,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        event_name=event_name,
    )


def _object(parent: dict[str, Any], name: str) -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise UnreadableNotification(f"a record has no {name} object")
    return value


# --- fetching --------------------------------------------------------------------------


class ObjectTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the object is {size} bytes; the limit is {limit}")
        self.size = size


class ObjectUnavailable(Exception):
    """The object could not be read (missing, access denied, S3 unreachable): a failure to
    retry, since it is not the message's fault."""


class InboundBucket:
    """The bucket SES stores received mail in, read with one S3 client (safe to call from
    several threads). Every method blocks: call them in a thread."""

    def __init__(self, name: str, client: S3Client) -> None:
        self.name = name
        self.client = client

    def fetch(self, key: str, limit: int) -> bytes:
        """The object's bytes. Raises ObjectTooLarge past `limit` bytes, read no further
        than that, and ObjectUnavailable when S3 does not hand it over."""
        try:
            response = self.client.get_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ObjectUnavailable(
                f"s3://{self.name}/{key}: {error.get('Code', 'error')} {error.get('Message', '')}"
            ) from None
        except BotoCoreError as exc:
            raise ObjectUnavailable(f"s3://{self.name}/{key}: {exc}") from None
        body = response["Body"]
        try:
            length = response.get("ContentLength")
            if length is not None and length > limit:
                raise ObjectTooLarge(length, limit)
            data = body.read(limit + 1)
            if len(data) > limit:
                raise ObjectTooLarge(length or len(data), limit)
            return data
        except BotoCoreError as exc:  # the connection broke mid-read
            raise ObjectUnavailable(f"s3://{self.name}/{key}: {exc}") from None
        finally:
            body.close()

    def put(self, key: str, data: bytes) -> None:
        """Store `data` at `key` (for the local setup and the benchmarks)."""
        self.client.put_object(Bucket=self.name, Key=key, Body=data)


def location(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
