"""Amazon SNS messages: reading the JSON document SNS posts to an HTTPS subscription, and
proving that SNS sent it.

`parse_sns` reads the document into an `SnsMessage`; `SnsVerifier.verify` then checks it as
the SNS developer guide says ("Verifying the signatures of Amazon SNS messages"): the topic
is one we subscribed to, the signing certificate comes from an SNS host of the topic's region,
and the RSA signature (SHA1 for SignatureVersion 1, SHA256 for 2) covers the message's fields.
`confirm_subscription` visits a verified SubscriptionConfirmation's SubscribeURL.

Everything refused raises `SnsRefused`, never another exception, whatever the bytes. Its
`retryable` flag marks the failures that are ours (the certificate could not be fetched):
answered with a 5xx, SNS retries the delivery; other refusals get a 4xx, which SNS does not
retry.

Timestamps are not checked for age. SNS retries a failed delivery for up to an hour (the hard
limit of an HTTP/S delivery policy) and our own outage or clock skew adds to that, so any cut
would drop authentic messages; a replayed authentic message is harmless, since each is stored
once by its MessageId and an SES event states a fact that stays true.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import attrs
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dispatch_server.core.clock import parse_timestamp, utcnow
from dispatch_server.core.text import CONTROL, is_storable

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
MESSAGE_TYPES = frozenset({NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION})

# An SNS message is at most 256 KiB; escaped into the JSON document (an SES event's quotes
# become \") it can about double. Read the body with this limit too.
MAX_SNS_BODY = 1024 * 1024
MAX_CERTIFICATE_BYTES = 64 * 1024  # an SNS certificate is under 2 KiB of PEM
MAX_CONFIRMATION_BYTES = 64 * 1024  # the ConfirmSubscriptionResponse XML, not kept
FETCH_TIMEOUT_SECONDS = 5.0
CERTIFICATE_CACHE_SIZE = 32

CertificateFetcher = Callable[[str], Awaitable[bytes]]
UrlFetcher = Callable[[str], Awaitable[bytes]]

# The region names of the aws, aws-cn and aws-us-gov partitions: us-east-1, cn-north-1,
# us-gov-west-1. [0-9], not \d, which also matches other scripts' digits.
_REGION = r"[a-z]{2}(?:-gov)?-[a-z]+-[0-9]"
_SNS_HOST = rf"sns\.(?P<region>{_REGION})\.amazonaws\.com(?P<cn>\.cn)?(?::443)?"
# The whole URL, character by character: no userinfo, other port, query, fragment, percent
# escape, backslash, dot segment or upper case can pass, so no URL parser (ours, or the one
# the fetch uses) ever gets to read it another way.
_CERT_URL = re.compile(rf"https://{_SNS_HOST}/SimpleNotificationService-[0-9a-f]{{1,128}}\.pem")
# RFC 3986 query characters (pchar, "/" and "?"), without "#".
_SUBSCRIBE_URL = re.compile(rf"https://{_SNS_HOST}/\?(?P<query>[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*)")
_TOPIC_ARN = re.compile(
    rf"arn:(?P<partition>aws|aws-cn|aws-us-gov):sns:(?P<region>{_REGION}):"
    r"(?P<account>[0-9]{12}):(?P<name>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)"
)
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
# Fields other than Message and Subject are ids, times, URLs and base64: printable ASCII.
_TOKEN = re.compile(r"[!-~]+")
_MAX_FIELD = 4096
_MAX_SUBJECT = 512
_HASHES: dict[str, hashes.HashAlgorithm] = {"1": hashes.SHA1(), "2": hashes.SHA256()}


class SnsRefused(Exception):
    """The message is not one to act on. `retryable`: the fault is ours (a certificate that
    could not be fetched), so SNS should try again later."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@attrs.frozen
class SnsMessage:
    """The fields of an SNS message that matter here, as sent (they are signed as written).

    Only what the signature covers is kept for each type: `subject` on a Notification,
    `subscribe_url` and `token` on the confirmations. `unsubscribe_url` is the exception: it
    is not signed, so it is for showing, never for visiting."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    signature_version: str
    signature: str
    signing_cert_url: str
    subject: str | None = None
    subscribe_url: str | None = None
    token: str | None = None
    unsubscribe_url: str | None = None

    @property
    def sent_at(self) -> datetime:
        """When SNS sent the message (parse_sns checked that the timestamp reads)."""
        return parse_timestamp(self.timestamp)


@attrs.frozen
class TopicArn:
    """arn:<partition>:sns:<region>:<account>:<name>"""

    partition: str
    region: str
    account: str
    name: str


def parse_topic_arn(arn: str) -> TopicArn | None:
    """The parts of an SNS topic ARN, or None if `arn` is not one (or names a region of
    another partition: arn:aws:sns:cn-north-1:...)."""
    match = _TOPIC_ARN.fullmatch(arn)
    if match is None or match["partition"] != _partition(match["region"]):
        return None
    return TopicArn(match["partition"], match["region"], match["account"], match["name"])


def is_account_id(value: str) -> bool:
    return _ACCOUNT_ID.fullmatch(value) is not None


# --- reading ---------------------------------------------------------------------------


def parse_sns(body: bytes) -> SnsMessage:
    """The SNS message in a request body. Raises SnsRefused for anything else: not UTF-8,
    not a JSON object, nested too deeply, a duplicated key, a field missing or of the wrong
    type or form, an unknown Type, more than MAX_SNS_BODY bytes."""
    if len(body) > MAX_SNS_BODY:
        raise SnsRefused(f"the body is above {MAX_SNS_BODY} bytes")
    try:
        document = json.loads(
            body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except RecursionError:
        raise SnsRefused("the body is nested too deeply") from None
    except ValueError:  # bad JSON or UTF-8, a duplicated key, NaN, an integer too long to read
        raise SnsRefused("the body is not a JSON document in UTF-8") from None
    if not isinstance(document, dict):
        raise SnsRefused("the body is not a JSON object")

    kind = _text(document, "Type")
    if kind not in MESSAGE_TYPES:
        raise SnsRefused(
            "Type is not Notification, SubscriptionConfirmation or UnsubscribeConfirmation"
        )
    timestamp = _text(document, "Timestamp")
    try:
        parse_timestamp(timestamp)
    except ValueError:
        raise SnsRefused("Timestamp is not an ISO 8601 time with an offset") from None
    subject = subscribe_url = token = unsubscribe_url = None
    if kind == NOTIFICATION:
        subject = _optional_text(document, "Subject", subject=True)
        unsubscribe_url = _optional_text(document, "UnsubscribeURL")
    else:
        subscribe_url = _text(document, "SubscribeURL")
        token = _text(document, "Token")
    return SnsMessage(
        type=kind,
        message_id=_text(document, "MessageId"),
        topic_arn=_text(document, "TopicArn"),
        message=_text(document, "Message", free=True, limit=MAX_SNS_BODY),
        timestamp=timestamp,
        signature_version=_text(document, "SignatureVersion"),
        signature=_text(document, "Signature"),
        signing_cert_url=_text(document, "SigningCertURL"),
        subject=subject,
        subscribe_url=subscribe_url,
        token=token,
        unsubscribe_url=unsubscribe_url,
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key would be read as the last by us and perhaps the first by
    # something in front of us.
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key appears twice")
    return document


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _text(
    document: dict[str, Any], name: str, *, free: bool = False, limit: int = _MAX_FIELD
) -> str:
    value = _optional_text(document, name, free=free, limit=limit)
    if value is None:
        raise SnsRefused(f"{name} is missing")
    return value


def _optional_text(
    document: dict[str, Any],
    name: str,
    *,
    free: bool = False,
    subject: bool = False,
    limit: int = _MAX_FIELD,
) -> str | None:
    """A string field (None when absent or null). Only Message is free text; Subject is text
    on one line; the others are printable ASCII without spaces.

    No field but Message can hold a line break, and Message comes first in the string to
    sign: so no bytes of one field can be moved into another (MessageId "id\\nSubject\\nHi"
    with Subject dropped signs as MessageId "id" with Subject "Hi")."""
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SnsRefused(f"{name} is not a string")
    if len(value) > (_MAX_SUBJECT if subject else limit):
        raise SnsRefused(f"{name} is too long")
    if free or subject:
        if not is_storable(value):
            raise SnsRefused(f"{name} holds NUL or a lone surrogate")
        if subject and CONTROL.search(value):
            raise SnsRefused(f"{name} holds a control character")
    elif not _TOKEN.fullmatch(value):
        raise SnsRefused(f"{name} is not printable ASCII")
    return value


def string_to_sign(message: SnsMessage) -> bytes:
    """What SNS signs: "Name\\nValue\\n" for each signed field, in byte order of the names.
    A Notification signs Message, MessageId, Subject (when present), Timestamp, TopicArn and
    Type; the confirmations sign Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn
    and Type."""
    if message.type == NOTIFICATION:
        pairs = [("Message", message.message), ("MessageId", message.message_id)]
        if message.subject is not None:
            pairs.append(("Subject", message.subject))
        pairs += [
            ("Timestamp", message.timestamp),
            ("TopicArn", message.topic_arn),
            ("Type", message.type),
        ]
    else:
        pairs = [
            ("Message", message.message),
            ("MessageId", message.message_id),
            ("SubscribeURL", message.subscribe_url or ""),
            ("Timestamp", message.timestamp),
            ("Token", message.token or ""),
            ("TopicArn", message.topic_arn),
            ("Type", message.type),
        ]
    return "".join(f"{name}\n{value}\n" for name, value in pairs).encode("utf-8")


# --- URLs ------------------------------------------------------------------------------


def check_cert_url(url: str) -> None:
    """Raise SnsRefused unless `url` is where SNS keeps a signing certificate: exactly
    https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem (port 443 may
    be written). Anything on amazonaws.com that is not the SNS host, an S3 bucket say, could
    hold anybody's certificate."""
    cert_url_region(url)


def cert_url_region(url: str) -> str:
    """The region of a certificate URL that passes check_cert_url; else SnsRefused."""
    match = _CERT_URL.fullmatch(url) if len(url) <= _MAX_FIELD else None
    region = _host_region(match)
    if region is None:
        raise SnsRefused("SigningCertURL is not an SNS certificate URL")
    return region


def subscribe_url_ok(url: str, region: str) -> bool:
    """Whether `url` is an SNS subscription confirmation of `region`:
    https://sns.<region>.amazonaws.com[.cn]/?Action=ConfirmSubscription&..."""
    return _subscribe_url_region(url) == region


def _subscribe_url_region(url: str) -> str | None:
    match = _SUBSCRIBE_URL.fullmatch(url) if len(url) <= _MAX_FIELD else None
    region = _host_region(match)
    if match is None or region is None:
        return None
    if parse_qs(match["query"], keep_blank_values=True).get("Action") != ["ConfirmSubscription"]:
        return None
    return region


def _host_region(match: re.Match[str] | None) -> str | None:
    """The region of a matched SNS host, if its domain is its partition's: amazonaws.com.cn
    for the China regions, amazonaws.com for the others."""
    if match is None:
        return None
    region = match["region"]
    if (match["cn"] is not None) != (_partition(region) == "aws-cn"):
        return None
    return region


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- fetching --------------------------------------------------------------------------


async def fetch_certificate(url: str) -> bytes:
    """The default certificate fetcher: the PEM at a URL that passes check_cert_url."""
    check_cert_url(url)
    return await _get(url, limit=MAX_CERTIFICATE_BYTES)


async def fetch_subscribe_url(url: str) -> bytes:
    """The default fetcher of confirmation URLs: GETs an SNS ConfirmSubscription URL."""
    if _subscribe_url_region(url) is None:
        raise SnsRefused("SubscribeURL is not an SNS subscription confirmation URL")
    return await _get(url, limit=MAX_CONFIRMATION_BYTES)


async def _get(url: str, *, limit: int) -> bytes:
    """The body of a 200 answer to GET `url`, within FETCH_TIMEOUT_SECONDS in all. Redirects
    are not followed: the URL was checked, wherever it might point is not."""
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
            async with (
                httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client,
                # identity: a compressed answer could inflate far past `limit` in one chunk
                client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response,
            ):
                if response.status_code != 200:
                    raise SnsRefused(f"{url} answered {response.status_code}", retryable=True)
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise SnsRefused(f"{url} answered more than {limit} bytes")
                    chunks.append(chunk)
    except (httpx.HTTPError, TimeoutError) as exc:
        raise SnsRefused(
            f"{url} could not be fetched ({type(exc).__name__})", retryable=True
        ) from None
    return b"".join(chunks)


# --- verifying -------------------------------------------------------------------------


class SnsVerifier:
    """Verifies messages for the topics we subscribed to. One per process: it caches the
    signing certificates it fetched, by URL."""

    def __init__(
        self,
        topic_arns: tuple[str, ...],
        account_ids: tuple[str, ...] = (),
        *,
        fetch_certificate: CertificateFetcher = fetch_certificate,
        check_validity: bool = True,
        clock: Callable[[], datetime] = utcnow,
        cache_size: int = CERTIFICATE_CACHE_SIZE,
    ) -> None:
        """`topic_arns`: the only topics accepted (exact match). `account_ids`: the AWS
        accounts they may belong to; empty, the accounts of `topic_arns`. Raises ValueError
        for an ARN or account id that is not one, or for no topic at all."""
        topics = [parse_topic_arn(arn) for arn in topic_arns]
        if not topics:
            raise ValueError("at least one SNS topic ARN is needed")
        bad = [arn for arn, topic in zip(topic_arns, topics, strict=True) if topic is None]
        if bad:
            raise ValueError(f"not SNS topic ARNs: {', '.join(bad)}")
        bad = [account for account in account_ids if not is_account_id(account)]
        if bad:
            raise ValueError(f"not AWS account ids: {', '.join(bad)}")
        self._topics = frozenset(topic_arns)
        self._accounts = frozenset(account_ids) or frozenset(t.account for t in topics if t)
        self._fetch = fetch_certificate
        self._check_validity = check_validity
        self._clock = clock
        self._cache_size = cache_size
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()

    async def verify(self, message: SnsMessage) -> None:
        """Return if SNS sent `message` for one of our topics; else raise SnsRefused. The
        checks that need nothing fetched come first, so a forged message costs no fetch."""
        if message.topic_arn not in self._topics:
            raise SnsRefused("the topic is not one this server subscribed to")
        topic = parse_topic_arn(message.topic_arn)
        if topic is None or topic.account not in self._accounts:
            raise SnsRefused("the topic belongs to another AWS account")
        algorithm = _HASHES.get(message.signature_version)
        if algorithm is None:
            raise SnsRefused("SignatureVersion is not 1 or 2")
        # SNS signs a topic's messages with the certificate of the topic's region. Holding
        # them together means a certificate from one region's host can never vouch for a
        # topic of another, whatever happens to that host.
        if cert_url_region(message.signing_cert_url) != topic.region:
            raise SnsRefused("SigningCertURL is not of the topic's region")
        signature = _signature(message.signature)
        certificate = await self._certificate(message.signing_cert_url)
        if self._check_validity:
            now = self._clock()
            if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
                raise SnsRefused("the signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRefused("the signing certificate's key is not RSA")
        try:
            key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise SnsRefused("the signature does not match the message") from None

    async def _certificate(self, url: str) -> x509.Certificate:
        """The certificate at `url`, fetched once. Its trust is where it came from: the URL
        is an SNS host's, fetched over HTTPS, whose TLS certificate the system's CAs vouch
        for; nobody but SNS can put a certificate there. A failed fetch is not remembered,
        so the next message tries again. (Two messages arriving together before the first
        fetch ends both fetch: rare, and harmless.)"""
        cached = self._certificates.get(url)
        if cached is not None:
            self._certificates.move_to_end(url)
            return cached
        try:
            pem = await self._fetch(url)
        except SnsRefused:
            raise
        except Exception as exc:  # an injected fetcher's own failure, whatever its kind
            raise SnsRefused(
                f"the signing certificate could not be fetched ({type(exc).__name__})",
                retryable=True,
            ) from None
        if len(pem) > MAX_CERTIFICATE_BYTES:
            raise SnsRefused("the signing certificate is too large")
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SnsRefused("the signing certificate is not a PEM X.509 certificate") from None
        self._certificates[url] = certificate
        while len(self._certificates) > self._cache_size:
            self._certificates.popitem(last=False)
        return certificate


def _signature(value: str) -> bytes:
    try:
        signature = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SnsRefused("Signature is not base64") from None
    if not signature:
        raise SnsRefused("Signature is empty")
    return signature


# --- subscribing -----------------------------------------------------------------------


async def confirm_subscription(
    message: SnsMessage, fetch_url: UrlFetcher = fetch_subscribe_url
) -> None:
    """Confirm a subscription by visiting a SubscriptionConfirmation's SubscribeURL, once it
    is checked to be an SNS confirmation URL of the topic's region (and topic). Call it only
    for a message SnsVerifier.verify accepted. Raises SnsRefused: for any other message (an
    UnsubscribeConfirmation's SubscribeURL would subscribe again), or if the visit fails."""
    if message.type != SUBSCRIPTION_CONFIRMATION or message.subscribe_url is None:
        raise SnsRefused("only a SubscriptionConfirmation is confirmed")
    topic = parse_topic_arn(message.topic_arn)
    if topic is None or not subscribe_url_ok(message.subscribe_url, topic.region):
        raise SnsRefused("SubscribeURL is not an SNS confirmation URL of the topic's region")
    query = parse_qs(message.subscribe_url.partition("?")[2], keep_blank_values=True)
    if query.get("TopicArn", [message.topic_arn]) != [message.topic_arn]:
        raise SnsRefused("SubscribeURL confirms another topic")
    await fetch_url(message.subscribe_url)
