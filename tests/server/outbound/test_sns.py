"""SNS messages: read, verified against real RSA signatures made here as SNS makes them, and
refused for every forgery, tampering and hostile body, always as SnsRefused.

The example documents are those of the SNS developer guide, "Amazon SNS message and JSON
formats" (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html), signed
here with a key of our own whose self-signed certificate the injected fetcher serves.
"""

from __future__ import annotations

import base64
import functools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from dispatch_server.outbound.feedback import sns
from dispatch_server.outbound.feedback.sns import (
    MAX_SNS_BODY,
    SnsMessage,
    SnsRefused,
    SnsVerifier,
    check_cert_url,
    confirm_subscription,
    parse_sns,
    parse_topic_arn,
    string_to_sign,
    subscribe_url_ok,
)

pytestmark = pytest.mark.anyio

Document = dict[str, Any]

TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
OTHER_TOPIC = "arn:aws:sns:us-west-2:123456789012:OtherTopic"  # also accepted
CERT_URL = (
    "https://sns.us-west-2.amazonaws.com/"
    "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
)
# Another certificate of the same region: SNS rotates them.
OTHER_CERT_URL = (
    "https://sns.us-west-2.amazonaws.com/"
    "SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem"
)
SUBSCRIBE_URL = (
    "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"
    "&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic"
    "&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb"
    "71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc"
    "3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
)
TOKEN = SUBSCRIBE_URL.rpartition("Token=")[2]

# The guide's examples, without their (EXAMPLE...) signatures.
NOTIFICATION: Document = {
    "Type": "Notification",
    "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    "TopicArn": TOPIC,
    "Subject": "My First Message",
    "Message": "Hello world!",
    "Timestamp": "2012-05-02T00:54:06.655Z",
    "SigningCertURL": CERT_URL,
    "UnsubscribeURL": (
        "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        "arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96"
    ),
}
# Without a Subject, as SES publishes its events; the Message is an SES event's JSON.
BARE_NOTIFICATION: Document = {
    key: value for key, value in NOTIFICATION.items() if key != "Subject"
} | {"Message": '{"eventType":"Bounce","mail":{"messageId":"0100"},\n"x":"a\\"b"}'}
SUBSCRIPTION: Document = {
    "Type": "SubscriptionConfirmation",
    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": TOKEN,
    "TopicArn": TOPIC,
    "Message": (
        "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic."
        "\nTo confirm the subscription, visit the SubscribeURL included in this message."
    ),
    "SubscribeURL": SUBSCRIBE_URL,
    "Timestamp": "2012-04-26T20:45:04.751Z",
    "SigningCertURL": CERT_URL,
}
UNSUBSCRIBE: Document = SUBSCRIPTION | {
    "Type": "UnsubscribeConfirmation",
    "MessageId": "47138184-6831-46b8-8f7c-afc488602d7d",
    "Message": (
        "You have chosen to deactivate subscription "
        "arn:aws:sns:us-west-2:123456789012:MyTopic:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55.\n"
        "To cancel this operation and restore the subscription, visit the SubscribeURL "
        "included in this message."
    ),
    "Timestamp": "2012-04-26T20:06:41.581Z",
}
BASES = {
    "notification": NOTIFICATION,
    "bare-notification": BARE_NOTIFICATION,
    "subscription": SUBSCRIPTION,
    "unsubscribe": UNSUBSCRIBE,
}

# The fields SNS signs, in order, as the developer guide lists them ("Verifying the
# signatures of Amazon SNS messages"); written out again here, not taken from the module.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        *("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    ),
    "UnsubscribeConfirmation": (
        *("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    ),
}


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    not_before: timedelta = timedelta(days=-1),
    not_after: timedelta = timedelta(days=365),
) -> bytes:
    """A self-signed PEM certificate for `key`, valid from now + not_before to now +
    not_after."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + not_before)
        .not_valid_after(now + not_after)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


KEY = _rsa_key()
OTHER_KEY = _rsa_key()
PEM = _certificate(KEY)
OTHER_PEM = _certificate(OTHER_KEY)


def sign(document: Document, *, key: rsa.RSAPrivateKey = KEY, version: str = "1") -> Document:
    """`document` with SignatureVersion and Signature as SNS would set them."""
    signed = dict(document, SignatureVersion=version)
    fields = SIGNED_FIELDS.get(signed["Type"], SIGNED_FIELDS["Notification"])
    text = "".join(f"{name}\n{signed[name]}\n" for name in fields if name in signed)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed


def body(document: Document) -> bytes:
    return json.dumps(document, indent=2).encode()


class CertificateServer:
    """The injected fetcher: serves PEM by URL, records each call, fails when told to."""

    def __init__(self, certificates: dict[str, bytes] | None = None) -> None:
        self.certificates = {CERT_URL: PEM, OTHER_CERT_URL: OTHER_PEM}
        self.certificates.update(certificates or {})
        self.calls: list[str] = []
        self.failures = 0

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if self.failures:
            self.failures -= 1
            raise OSError("connection refused")
        return self.certificates[url]


def verifier(server: CertificateServer, **options: Any) -> SnsVerifier:
    options.setdefault("topic_arns", (TOPIC, OTHER_TOPIC))
    return SnsVerifier(fetch_certificate=server, **options)


async def check(document: Document, server: CertificateServer | None = None) -> SnsMessage:
    """Parse and verify, as the route does."""
    message = parse_sns(body(document))
    await verifier(server or CertificateServer()).verify(message)
    return message


# --- authentic messages ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("base", list(BASES))
async def test_authentic_messages_pass(base: str, version: str) -> None:
    document = sign(BASES[base], version=version)
    message = await check(document)
    assert message.type == document["Type"]
    assert message.message == document["Message"]
    assert message.message_id == document["MessageId"]
    assert message.topic_arn == TOPIC
    assert message.subject == document.get("Subject")
    if message.type == "Notification":
        assert message.subscribe_url is None and message.token is None
        assert message.unsubscribe_url == NOTIFICATION["UnsubscribeURL"]
    else:
        assert message.subscribe_url == SUBSCRIBE_URL and message.token == TOKEN
    assert message.sent_at == datetime.fromisoformat(document["Timestamp"])


async def test_fields_sns_does_not_sign_may_be_added_or_changed() -> None:
    """MessageAttributes, UnsubscribeURL and fields yet to come are outside the signature:
    they neither break it nor get trusted (UnsubscribeURL is kept only to be shown)."""
    document = sign(NOTIFICATION) | {
        "MessageAttributes": {"a": {"Type": "String", "Value": "b"}},
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&x=1",
        "SomethingNew": [1, 2, {"x": None}],
    }
    message = await check(document)
    assert message.unsubscribe_url == document["UnsubscribeURL"]


async def test_unsigned_fields_of_a_confirmation_are_not_kept() -> None:
    document = sign(SUBSCRIPTION) | {"Subject": "not signed", "UnsubscribeURL": "https://x"}
    message = await check(document)
    assert message.subject is None and message.unsubscribe_url is None


def test_the_string_to_sign_is_the_developer_guides() -> None:
    """The guide's own example string to sign for a Notification, byte for byte."""
    message = SnsMessage(
        type="Notification",
        message_id="4d4dc071-ddbf-465d-bba8-08f81c89da64",
        topic_arn="arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        message="My Test Message",
        timestamp="2019-01-31T04:37:04.321Z",
        signature_version="1",
        signature="",
        signing_cert_url="",
        subject="My subject",
    )
    assert string_to_sign(message) == (
        b"Message\nMy Test Message\n"
        b"MessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        b"Subject\nMy subject\n"
        b"Timestamp\n2019-01-31T04:37:04.321Z\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n"
    )
    confirmation = attrs.evolve(
        message, type="SubscriptionConfirmation", subject=None, subscribe_url="U", token="T"
    )
    assert string_to_sign(confirmation) == (
        b"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        b"SubscribeURL\nU\nTimestamp\n2019-01-31T04:37:04.321Z\nToken\nT\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nSubscriptionConfirmation\n"
    )


@pytest.mark.parametrize(
    ("topic", "cert_url"),
    [
        (
            "arn:aws-cn:sns:cn-north-1:123456789012:Events",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc123.pem",
        ),
        (
            "arn:aws-us-gov:sns:us-gov-west-1:123456789012:Events",
            "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc123.pem",
        ),
        (
            "arn:aws:sns:eu-west-1:123456789012:Events.fifo",
            "https://sns.eu-west-1.amazonaws.com:443/SimpleNotificationService-abc123.pem",
        ),
    ],
)
async def test_other_partitions_and_regions_pass(topic: str, cert_url: str) -> None:
    server = CertificateServer({cert_url: PEM})
    document = sign(NOTIFICATION | {"TopicArn": topic, "SigningCertURL": cert_url})
    await verifier(server, topic_arns=(topic,)).verify(parse_sns(body(document)))
    assert server.calls == [cert_url]


# --- tampering -------------------------------------------------------------------------

Mutation = Callable[[Document], None]


def _append(field: str, text: str) -> Mutation:
    def mutate(document: Document) -> None:
        document[field] = document[field] + text

    return mutate


def _set(field: str, value: object) -> Mutation:
    def mutate(document: Document) -> None:
        document[field] = value

    return mutate


def _drop(field: str) -> Mutation:
    def mutate(document: Document) -> None:
        del document[field]

    return mutate


def _resign(**options: Any) -> Mutation:
    """The signature of the same fields made another way (another key, another hash)."""

    def mutate(document: Document) -> None:
        unsigned = {k: v for k, v in document.items() if k not in ("Signature",)}
        document["Signature"] = sign(unsigned, **options)["Signature"]

    return mutate


def _signature_of_another_message(document: Document) -> None:
    other = dict(document, MessageId="00000000-0000-0000-0000-000000000000")
    document["Signature"] = sign(other, version=document["SignatureVersion"])["Signature"]


def _flip_version(document: Document) -> None:
    document["SignatureVersion"] = "2" if document["SignatureVersion"] == "1" else "1"


def _retype(kind: str) -> Mutation:
    def mutate(document: Document) -> None:
        document["Type"] = kind
        document.setdefault("SubscribeURL", SUBSCRIBE_URL)
        document.setdefault("Token", TOKEN)

    return mutate


def _absorb_subject(document: Document) -> None:
    # "MessageId\nI\nSubject\nS\n" read as one MessageId: the same bytes, another message id.
    document["MessageId"] = f"{document['MessageId']}\nSubject\n{document.pop('Subject')}"


ALL = frozenset(BASES)
NOTIFICATIONS = frozenset({"notification", "bare-notification"})
CONFIRMATIONS = frozenset({"subscription", "unsubscribe"})
TAMPERING: dict[str, tuple[frozenset[str], Mutation]] = {
    "Message changed": (ALL, _append("Message", " ")),
    "Message line ending": (
        ALL - {"notification"},
        lambda d: d.update(Message=d["Message"].replace("\n", "\r\n")),
    ),
    "Message upper-cased": (ALL, lambda d: d.update(Message=d["Message"].upper())),
    "MessageId changed": (ALL, lambda d: d.update(MessageId=d["MessageId"][:-1] + "0")),
    "Timestamp changed": (ALL, lambda d: d.update(Timestamp=d["Timestamp"][:-2] + "9Z")),
    "Timestamp rewritten": (ALL, lambda d: d.update(Timestamp=d["Timestamp"][:-1] + "+00:00")),
    "TopicArn changed (another accepted topic)": (ALL, _set("TopicArn", OTHER_TOPIC)),
    "Subject changed": (frozenset({"notification"}), _append("Subject", "!")),
    "Subject removed": (frozenset({"notification"}), _drop("Subject")),
    "Subject added": (frozenset({"bare-notification"}), _set("Subject", "Hello")),
    "Subject added empty": (frozenset({"bare-notification"}), _set("Subject", "")),
    "Subject moved into MessageId": (frozenset({"notification"}), _absorb_subject),
    "SubscribeURL changed": (CONFIRMATIONS, _append("SubscribeURL", "&x=1")),
    "Token changed": (CONFIRMATIONS, _append("Token", "0")),
    "Type Notification to SubscriptionConfirmation": (
        NOTIFICATIONS,
        _retype("SubscriptionConfirmation"),
    ),
    "Type to Notification": (CONFIRMATIONS, _set("Type", "Notification")),
    "Type SubscriptionConfirmation to Unsubscribe": (
        frozenset({"subscription"}),
        _set("Type", "UnsubscribeConfirmation"),
    ),
    "Type UnsubscribeConfirmation to Subscription": (
        frozenset({"unsubscribe"}),
        _set("Type", "SubscriptionConfirmation"),
    ),
    "Signature by another key": (ALL, _resign(key=OTHER_KEY)),
    "Signature of another message": (ALL, _signature_of_another_message),
    "SignatureVersion flipped": (ALL, _flip_version),
    "SignatureVersion 3": (ALL, _set("SignatureVersion", "3")),
    "SignatureVersion number": (ALL, _set("SignatureVersion", 1)),
    "SignatureVersion missing": (ALL, _drop("SignatureVersion")),
    "Signature not base64": (ALL, _set("Signature", "not base64!")),
    "Signature unpadded": (ALL, lambda d: d.update(Signature=d["Signature"].rstrip("="))),
    "Signature with a line break": (ALL, lambda d: d.update(Signature="\n" + d["Signature"])),
    "Signature truncated": (ALL, lambda d: d.update(Signature=d["Signature"][:-4])),
    "Signature empty": (ALL, _set("Signature", "")),
    "Signature missing": (ALL, _drop("Signature")),
    "Signature null": (ALL, _set("Signature", None)),
    "SigningCertURL of another key": (ALL, _set("SigningCertURL", OTHER_CERT_URL)),
    "SigningCertURL missing": (ALL, _drop("SigningCertURL")),
}
TAMPERING_CASES = [
    pytest.param(base, version, name, id=f"{base}-v{version}-{name}")
    for name, (bases, _) in TAMPERING.items()
    for base in BASES
    if base in bases
    for version in ("1", "2")
]


@pytest.mark.parametrize(("base", "version", "tampering"), TAMPERING_CASES)
async def test_every_tampering_is_refused(base: str, version: str, tampering: str) -> None:
    document = sign(BASES[base], version=version)
    await check(dict(document))  # authentic before
    TAMPERING[tampering][1](document)
    with pytest.raises(SnsRefused):
        await check(document)


# --- topics, accounts, regions ---------------------------------------------------------


async def test_a_topic_not_on_the_list_is_refused_without_a_fetch() -> None:
    server = CertificateServer()
    elsewhere = "arn:aws:sns:us-west-2:123456789012:SomeoneElsesTopic"
    message = parse_sns(body(sign(NOTIFICATION | {"TopicArn": elsewhere})))
    with pytest.raises(SnsRefused, match="topic"):
        await verifier(server).verify(message)
    # Exact match: not a prefix, not another case.
    for near in (TOPIC + "2", TOPIC.lower(), TOPIC.upper(), TOPIC[:-1]):
        message = parse_sns(body(sign(NOTIFICATION | {"TopicArn": near})))
        with pytest.raises(SnsRefused, match="topic"):
            await verifier(server).verify(message)
    assert server.calls == []


async def test_a_topic_of_another_account_is_refused_without_a_fetch() -> None:
    server = CertificateServer()
    message = parse_sns(body(sign(NOTIFICATION)))
    checker = verifier(server, account_ids=("999999999999",))
    with pytest.raises(SnsRefused, match="account"):
        await checker.verify(message)
    assert server.calls == []
    await verifier(server, account_ids=("999999999999", "123456789012")).verify(message)


async def test_a_certificate_of_another_region_is_refused_without_a_fetch() -> None:
    east = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc123.pem"
    server = CertificateServer({east: PEM})
    message = parse_sns(body(sign(NOTIFICATION | {"SigningCertURL": east})))
    with pytest.raises(SnsRefused, match="region"):
        await verifier(server).verify(message)
    assert server.calls == []


def test_topic_arns_are_read_by_partition() -> None:
    assert parse_topic_arn(TOPIC) == sns.TopicArn("aws", "us-west-2", "123456789012", "MyTopic")
    for bad in (
        "arn:aws:sns:cn-north-1:123456789012:T",  # a China region in the aws partition
        "arn:aws-cn:sns:us-east-1:123456789012:T",
        "arn:aws:sns:us-gov-west-1:123456789012:T",
        "arn:aws:sqs:us-west-2:123456789012:T",
        "arn:aws:sns:us-west-2:12345678901:T",
        "arn:aws:sns:us-west-2:123456789012:",
        "arn:aws:sns:us-west-2:123456789012:a/b",
        f"{TOPIC}\n",
        "",
    ):
        assert parse_topic_arn(bad) is None, bad


@pytest.mark.parametrize(
    ("topic_arns", "account_ids"),
    [((), ()), (("arn:aws:sns:us-west-2:1:T",), ()), ((TOPIC,), ("12345",)), ((TOPIC,), ("",))],
)
def test_the_verifier_refuses_a_bad_configuration(
    topic_arns: tuple[str, ...], account_ids: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        SnsVerifier(topic_arns, account_ids, fetch_certificate=CertificateServer())


# --- certificate URLs ------------------------------------------------------------------

PEM_NAME = "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
HOST = "sns.us-west-2.amazonaws.com"
GOOD_CERT_URLS = [
    CERT_URL,
    OTHER_CERT_URL,
    f"https://{HOST}:443/{PEM_NAME}",
    f"https://sns.us-east-1.amazonaws.com/{PEM_NAME}",
    f"https://sns.ap-southeast-2.amazonaws.com/{PEM_NAME}",
    f"https://sns.il-central-1.amazonaws.com/{PEM_NAME}",
    f"https://sns.us-gov-west-1.amazonaws.com/{PEM_NAME}",
    f"https://sns.cn-north-1.amazonaws.com.cn/{PEM_NAME}",
    f"https://sns.cn-northwest-1.amazonaws.com.cn/{PEM_NAME}",
]
BAD_CERT_URLS = [
    f"http://{HOST}/{PEM_NAME}",  # not https
    f"HTTPS://{HOST}/{PEM_NAME}",
    f"https:{HOST}/{PEM_NAME}",
    f"https:/{HOST}/{PEM_NAME}",
    f"//{HOST}/{PEM_NAME}",
    f"ftp://{HOST}/{PEM_NAME}",
    f"https://s3.amazonaws.com/{HOST}/{PEM_NAME}",  # anybody's S3 bucket
    f"https://sns.s3.amazonaws.com/{PEM_NAME}",  # a bucket named sns
    f"https://sns.s3.us-west-2.amazonaws.com/{PEM_NAME}",
    f"https://{HOST}.s3.amazonaws.com/{PEM_NAME}",  # a bucket named as the host
    f"https://{HOST}.evil.example/{PEM_NAME}",
    f"https://evil.example/{HOST}/{PEM_NAME}",
    f"https://evil.example/{PEM_NAME}?{HOST}",
    f"https://evil.example/{PEM_NAME}#{HOST}",
    f"https://user@{HOST}/{PEM_NAME}",  # userinfo
    f"https://user:pass@{HOST}/{PEM_NAME}",
    f"https://{HOST}@evil.example/{PEM_NAME}",
    f"https://{HOST}:443@evil.example/{PEM_NAME}",
    f"https://{HOST}:8443/{PEM_NAME}",  # another port
    f"https://{HOST}:0443/{PEM_NAME}",
    f"https://{HOST}:/{PEM_NAME}",
    f"https://{HOST}:80/{PEM_NAME}",
    f"https://{HOST.upper()}/{PEM_NAME}",  # case
    f"https://Sns.us-west-2.amazonaws.com/{PEM_NAME}",
    f"https://{HOST}./{PEM_NAME}",  # trailing dot
    f"https://{HOST}../{PEM_NAME}",
    f"https://.{HOST}/{PEM_NAME}",
    f"https://%73ns.us-west-2.amazonaws.com/{PEM_NAME}",  # percent-encoded host
    f"https://sns.us-west-2.amazonaws%2Ecom/{PEM_NAME}",
    f"https://{HOST}%2F@evil.example/{PEM_NAME}",
    f"https://{HOST}\\@evil.example/{PEM_NAME}",  # backslashes
    f"https://evil.example\\{HOST}/{PEM_NAME}",
    f"https://{HOST}\\{PEM_NAME}",
    f"https://{HOST}/../{PEM_NAME}",  # dot segments
    f"https://{HOST}/x/../{PEM_NAME}",
    f"https://{HOST}/./{PEM_NAME}",
    f"https://{HOST}/%2e%2e/{PEM_NAME}",
    f"https://{HOST}//{PEM_NAME}",
    f"https://{HOST}/evil/{PEM_NAME}",
    f"https://{HOST}/{PEM_NAME}?x=1",  # query, fragment
    f"https://{HOST}/{PEM_NAME}?",
    f"https://{HOST}/{PEM_NAME}#x",
    f"https://{HOST}/{PEM_NAME}%00",
    f"https://{HOST}/{PEM_NAME}.evil",
    f"https://{HOST}/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f%2Epem",
    f"https://{HOST}/SimpleNotificationService-.pem",  # not hex
    f"https://{HOST}/SimpleNotificationService-xyz.pem",
    f"https://{HOST}/SimpleNotificationService-F3ECFB72.pem",
    f"https://{HOST}/SimpleNotificationService-{'a' * 200}.pem",
    f"https://{HOST}/simplenotificationservice-abc.pem",
    f"https://{HOST}/SimpleNotificationService-abc.PEM",
    f"https://{HOST}/SimpleNotificationService-abc.crt",
    f"https://{HOST}/",
    f"https://{HOST}",
    f"https://ѕns.us-west-2.amazonaws.com/{PEM_NAME}",  # IDN look-alikes: Cyrillic ѕ
    f"https://sns.us-west-2.amazonаws.com/{PEM_NAME}",  # Cyrillic а
    f"https://sns.us-west-２.amazonaws.com/{PEM_NAME}",  # fullwidth digit (\d matches it)
    f"https://sns.us-west-٢.amazonaws.com/{PEM_NAME}",  # Arabic-Indic digit
    f"https://xn--sns-4cd.us-west-2.amazonaws.com/{PEM_NAME}",  # punycode
    f"https://sns.evil.amazonaws.com/{PEM_NAME}",  # not a region
    f"https://sns.us-west-22.amazonaws.com/{PEM_NAME}",
    f"https://sns.us-west.amazonaws.com/{PEM_NAME}",
    f"https://sns.amazonaws.com/{PEM_NAME}",
    f"https://sns.us-west-2.amazonaws.com.cn/{PEM_NAME}",  # .cn outside China
    f"https://sns.cn-north-1.amazonaws.com/{PEM_NAME}",  # China without .cn
    f"https://sns.us-west-2.amazonaws.org/{PEM_NAME}",
    f"https://sns-us-west-2.amazonaws.com/{PEM_NAME}",
    f"https://sns.us-west-2.amazonaws.com.evil/{PEM_NAME}",
    f"https://127.0.0.1/{PEM_NAME}",
    f"https://[::1]/{PEM_NAME}",
    f"https://169.254.169.254/{PEM_NAME}",  # instance metadata
    f" {CERT_URL}",  # whitespace and controls
    f"{CERT_URL} ",
    f"{CERT_URL}\n",
    f"https://{HOST}\t/{PEM_NAME}",
    f"https://{HOST}\x00/{PEM_NAME}",
    "file:///etc/passwd",
    "",
]


@pytest.mark.parametrize("url", GOOD_CERT_URLS)
def test_certificate_urls_of_sns_pass(url: str) -> None:
    check_cert_url(url)


@pytest.mark.parametrize("url", BAD_CERT_URLS)
def test_certificate_urls_elsewhere_are_refused(url: str) -> None:
    with pytest.raises(SnsRefused):
        check_cert_url(url)


@pytest.mark.parametrize("url", BAD_CERT_URLS)
async def test_a_message_naming_a_bad_certificate_url_is_refused_before_any_fetch(
    url: str,
) -> None:
    server = CertificateServer({url: PEM})  # the attacker's server would serve our key
    with pytest.raises(SnsRefused):
        await check(sign(NOTIFICATION | {"SigningCertURL": url}), server)
    assert server.calls == []


@pytest.mark.parametrize("url", BAD_CERT_URLS)
async def test_the_default_fetcher_checks_the_url_itself(url: str) -> None:
    with pytest.raises(SnsRefused, match="SigningCertURL"):
        await sns.fetch_certificate(url)


# --- certificates ----------------------------------------------------------------------


async def test_one_fetch_serves_many_messages() -> None:
    server = CertificateServer()
    checker = verifier(server)
    for index in range(20):
        document = sign(NOTIFICATION | {"MessageId": f"id-{index}"}, version="12"[index % 2])
        await checker.verify(parse_sns(body(document)))
    assert server.calls == [CERT_URL]


async def test_the_cache_is_bounded() -> None:
    urls = [f"https://{HOST}/SimpleNotificationService-{index:04x}.pem" for index in range(3)]
    server = CertificateServer(dict.fromkeys(urls, PEM))
    checker = verifier(server, cache_size=2)
    for url in [*urls, urls[2], urls[1], urls[0]]:
        await checker.verify(parse_sns(body(sign(NOTIFICATION | {"SigningCertURL": url}))))
    # urls[0] was the least recently used when urls[2] came in, so it is fetched again.
    assert server.calls == [*urls, urls[0]]


async def test_a_failed_fetch_is_refused_as_retryable_and_tried_again() -> None:
    server = CertificateServer()
    server.failures = 1
    checker = verifier(server)
    message = parse_sns(body(sign(NOTIFICATION)))
    with pytest.raises(SnsRefused) as refused:
        await checker.verify(message)
    assert refused.value.retryable
    await checker.verify(message)
    await checker.verify(message)
    assert server.calls == [CERT_URL, CERT_URL]


async def test_a_fetcher_refusal_passes_through() -> None:
    async def refuse(url: str) -> bytes:
        raise SnsRefused("nope", retryable=True)

    message = parse_sns(body(sign(NOTIFICATION)))
    with pytest.raises(SnsRefused, match="nope"):
        await SnsVerifier((TOPIC,), fetch_certificate=refuse).verify(message)


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"not a certificate",
        PEM[:-40],
        PEM.replace(b"CERTIFICATE", b"PUBLIC KEY"),
        b"-----BEGIN CERTIFICATE-----\n\xff\xfe\n-----END CERTIFICATE-----\n",
        PEM * 100,  # too large
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    ],
)
async def test_what_is_not_a_certificate_is_refused_and_not_cached(pem: bytes) -> None:
    server = CertificateServer({CERT_URL: pem})
    checker = verifier(server)
    message = parse_sns(body(sign(NOTIFICATION)))
    for _ in range(2):
        with pytest.raises(SnsRefused, match="certificate"):
            await checker.verify(message)
    assert server.calls == [CERT_URL, CERT_URL]


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [(timedelta(days=-30), timedelta(days=-1)), (timedelta(days=1), timedelta(days=30))],
    ids=["expired", "not-yet-valid"],
)
async def test_a_certificate_outside_its_validity_is_refused(
    not_before: timedelta, not_after: timedelta
) -> None:
    pem = _certificate(KEY, not_before=not_before, not_after=not_after)
    message = parse_sns(body(sign(NOTIFICATION)))
    with pytest.raises(SnsRefused, match="valid"):
        await verifier(CertificateServer({CERT_URL: pem})).verify(message)
    await verifier(CertificateServer({CERT_URL: pem}), check_validity=False).verify(message)


async def test_validity_is_checked_against_the_clock_given() -> None:
    message = parse_sns(body(sign(NOTIFICATION)))
    later = datetime.now(UTC) + timedelta(days=400)
    with pytest.raises(SnsRefused, match="valid"):
        await verifier(CertificateServer(), clock=lambda: later).verify(message)


async def test_a_certificate_without_an_rsa_key_is_refused() -> None:
    pem = _certificate(ec.generate_private_key(ec.SECP256R1()))
    message = parse_sns(body(sign(NOTIFICATION)))
    with pytest.raises(SnsRefused, match="RSA"):
        await verifier(CertificateServer({CERT_URL: pem})).verify(message)


# --- hostile bodies --------------------------------------------------------------------

HOSTILE_BODIES = {
    "empty": b"",
    "blank": b" \r\n\t",
    "null": b"null",
    "array": b"[]",
    "number": b"1",
    "string": b'"Notification"',
    "true": b"true",
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deep unclosed": b"[" * 1_000_000,
    "huge integer": b'{"Type": ' + b"9" * 10_000 + b"}",
    "huge exponent": b'{"Type": 1e999999}',
    "NaN": b'{"Type": NaN}',
    "Infinity": b'{"Type": -Infinity}',
    "invalid UTF-8": b'{"Type": "\xff\xfe"}',
    "overlong UTF-8": b'{"Type": "\xc0\xafNotification"}',
    "UTF-8 BOM": b"\xef\xbb\xbf" + body(sign(NOTIFICATION)),
    "UTF-16": json.dumps(sign(NOTIFICATION)).encode("utf-16"),
    "UTF-32": json.dumps(sign(NOTIFICATION)).encode("utf-32"),
    "truncated": body(sign(NOTIFICATION))[:-2],
    "trailing data": body(sign(NOTIFICATION)) + b"{}",
    "two documents": body(sign(NOTIFICATION)) * 2,
    "NUL byte": body(sign(NOTIFICATION)).replace(b"Hello", b"Hel\x00lo"),
    "too large": b" " * (MAX_SNS_BODY + 1),
    "too large and valid": json.dumps(
        sign(NOTIFICATION | {"Message": "x" * MAX_SNS_BODY})
    ).encode(),
    "duplicate Type": b'{"Type": "Notification", "Type": "Notification"}',
    "duplicate Message": body(sign(NOTIFICATION))[:-2] + b',"Message": "Evil"}',
    "duplicate nested": body(sign(NOTIFICATION)).replace(b"{", b'{"x": {"a": 1, "a": 2},', 1),
    "unknown Type": body(sign(NOTIFICATION | {"Type": "Telegram"})),
    "Type lower case": body(sign(NOTIFICATION | {"Type": "notification"})),
    "Type with space": body(sign(NOTIFICATION | {"Type": "Notification "})),
    "no Type": body({k: v for k, v in sign(NOTIFICATION).items() if k != "Type"}),
    "Lambda-style keys": body(
        {("SigningCertUrl" if k == "SigningCertURL" else k): v for k, v in NOTIFICATION.items()}
    ),
    "Timestamp not a time": body(sign(NOTIFICATION | {"Timestamp": "yesterday"})),
    "Timestamp without offset": body(sign(NOTIFICATION | {"Timestamp": "2012-05-02T00:54:06"})),
    "Timestamp out of range": body(sign(NOTIFICATION | {"Timestamp": "0001-01-01T00:00:00+14:00"})),
    "confirmation without Token": body(
        {k: v for k, v in sign(SUBSCRIPTION).items() if k != "Token"}
    ),
    "confirmation without SubscribeURL": body(
        {k: v for k, v in sign(SUBSCRIPTION).items() if k != "SubscribeURL"}
    ),
    "lone surrogate in Message": body(sign(NOTIFICATION)).replace(b"Hello", b"\\ud800Hello"),
    "lone surrogate in Subject": body(sign(NOTIFICATION)).replace(b"My First", b"\\udfffMy"),
    "NUL escape in Message": body(sign(NOTIFICATION)).replace(b"Hello", b"\\u0000Hello"),
    "line break in Subject": body(sign(NOTIFICATION | {"Subject": "a\nb"})),
    "U+2028 in Subject": body(sign(NOTIFICATION | {"Subject": "a\u2028b"})),
    "line break in TopicArn": body(sign(NOTIFICATION | {"TopicArn": TOPIC + "\n"})),
    "space in MessageId": body(sign(NOTIFICATION | {"MessageId": "a b"})),
    "control in Token": body(sign(SUBSCRIPTION | {"Token": "ab\x01"})),
    "non-ASCII in SigningCertURL": body(
        sign(NOTIFICATION | {"SigningCertURL": CERT_URL.replace("sns", "ѕns")})
    ),
    "huge Subject": body(sign(NOTIFICATION | {"Subject": "x" * 100_000})),
    "huge MessageId": body(sign(NOTIFICATION | {"MessageId": "x" * 100_000})),
}


@pytest.mark.parametrize("raw", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_hostile_bodies_are_refused(raw: bytes) -> None:
    with pytest.raises(SnsRefused):
        parse_sns(raw)


REQUIRED = (
    *("Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion"),
    *("Signature", "SigningCertURL"),
)
ILL_TYPED: list[object] = [None, 1, -1.5, 10**30, True, False, [], ["x"], {}, {"a": "b"}]


@pytest.mark.parametrize("field", [*REQUIRED, "SubscribeURL", "Token"])
def test_each_required_field_missing_is_refused(field: str) -> None:
    document = sign(SUBSCRIPTION)
    del document[field]
    with pytest.raises(SnsRefused):
        parse_sns(body(document))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(field, value, id=f"{field}-{value!r}")
        for field in [*REQUIRED, "Subject", "UnsubscribeURL"]
        for value in ILL_TYPED
        # An optional field may be null.
        if not (value is None and field in ("Subject", "UnsubscribeURL"))
    ],
)
def test_each_field_of_the_wrong_type_is_refused(field: str, value: object) -> None:
    with pytest.raises(SnsRefused):
        parse_sns(body(sign(NOTIFICATION) | {field: value}))


HOSTILE_VALUES: list[object] = [
    *ILL_TYPED,
    "",
    "\x00",
    "\ud800",
    "\udc00x\ud800",
    "\n",
    "é",
    "x" * (MAX_SNS_BODY // 2),
    [[[[[]]]]],
    {"Type": "Notification"},
    "\\u0000",
    "${jndi:ldap://x}",
]
FIELDS = [*REQUIRED, "Subject", "UnsubscribeURL", "SubscribeURL", "Token", "MessageAttributes"]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("base", ["notification", "subscription"])
async def test_hostile_values_are_refused_or_harmless(base: str, field: str, value: object) -> None:
    """Whatever goes in any field, the outcome is a message verified unchanged or an
    SnsRefused: never another exception, never a changed message that verifies."""
    original = sign(BASES[base])
    document = original | {field: value}
    try:
        message = await check(document)
    except SnsRefused:
        return
    assert string_to_sign(message) == string_to_sign(parse_sns(body(original)))


INSERTS = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\\",
    b'"',
    b"\\u0000",
    b"\\ud800",
    b"[",
    b"{",
    b"}",
    b",",
    b"9" * 40,
    b"\n",
    b'"Subject":"x",',
    b'"Type":"Notification",',
    b"\\n",
]


async def test_mutated_bodies_are_refused_or_harmless() -> None:
    """Random byte damage to authentic bodies (a seeded fuzz): parse and verify give a
    message whose signed content is an authentic one's, or SnsRefused; nothing else."""
    rng = random.Random(20260601)
    originals = [body(sign(BASES[base], version=v)) for base in BASES for v in ("1", "2")]
    authentic = {string_to_sign(parse_sns(raw)) for raw in originals}
    checker = verifier(CertificateServer())
    passed = refused = 0
    for _ in range(3000):
        raw = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(raw) + 1)
            action = rng.randrange(4)
            if action == 0 and raw:
                raw[at % len(raw)] = rng.randrange(256)
            elif action == 1:
                raw[at:at] = rng.choice(INSERTS)
            elif action == 2:
                del raw[at : at + rng.randint(1, 16)]
            else:
                raw = raw[:at]
        try:
            message = parse_sns(bytes(raw))
            await checker.verify(message)
        except SnsRefused:
            refused += 1
            continue
        passed += 1  # whitespace, or a field SNS does not sign
        assert string_to_sign(message) in authentic
    assert refused > 2000 and passed > 0


# --- subscription confirmation ---------------------------------------------------------

GOOD_SUBSCRIBE_URLS = [
    (SUBSCRIBE_URL, "us-west-2"),
    (SUBSCRIBE_URL.replace(".com/", ".com:443/"), "us-west-2"),
    ("https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=1", "cn-north-1"),
    (
        "https://sns.us-gov-east-1.amazonaws.com/?Token=1&Action=ConfirmSubscription",
        "us-gov-east-1",
    ),
]
BAD_SUBSCRIBE_URLS = [
    SUBSCRIBE_URL.replace("https://", "http://"),
    SUBSCRIBE_URL.replace("us-west-2", "us-east-1"),  # another region than the topic's
    SUBSCRIBE_URL.replace(HOST, f"{HOST}.evil.example"),
    SUBSCRIBE_URL.replace(HOST, f"user@{HOST}"),
    SUBSCRIBE_URL.replace(HOST, f"{HOST}:8443"),
    SUBSCRIBE_URL.replace(HOST, HOST.upper()),
    SUBSCRIBE_URL.replace(HOST, f"{HOST}."),
    SUBSCRIBE_URL.replace(".com/?", ".com/evil?"),
    SUBSCRIBE_URL.replace(".com/?", ".com\\?"),
    SUBSCRIBE_URL.replace("ConfirmSubscription", "Unsubscribe"),
    SUBSCRIBE_URL.replace("Action=ConfirmSubscription&", ""),
    SUBSCRIBE_URL + "&Action=ConfirmSubscription",  # two actions
    SUBSCRIBE_URL + "&Action=Unsubscribe",
    SUBSCRIBE_URL + "#fragment",
    SUBSCRIBE_URL + " ",
    SUBSCRIBE_URL + "\n",
    f"https://s3.amazonaws.com/{HOST}/?Action=ConfirmSubscription",
    f"https://evil.example/?Action=ConfirmSubscription&{HOST}",
    f"https://{HOST}/?Action=ConfirmSubscription&x=" + "a" * 5000,
    "",
]


@pytest.mark.parametrize(("url", "region"), GOOD_SUBSCRIBE_URLS)
def test_subscribe_urls_of_sns_pass(url: str, region: str) -> None:
    assert subscribe_url_ok(url, region)


@pytest.mark.parametrize("url", BAD_SUBSCRIBE_URLS)
def test_subscribe_urls_elsewhere_are_refused(url: str) -> None:
    assert not subscribe_url_ok(url, "us-west-2")


class UrlRecorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return b"<ConfirmSubscriptionResponse/>"


async def test_a_subscription_confirmation_is_confirmed() -> None:
    visits = UrlRecorder()
    await confirm_subscription(await check(sign(SUBSCRIPTION, version="2")), visits)
    assert visits.calls == [SUBSCRIBE_URL]


@pytest.mark.parametrize("base", ["notification", "unsubscribe"])
async def test_only_a_subscription_confirmation_is_confirmed(base: str) -> None:
    visits = UrlRecorder()
    with pytest.raises(SnsRefused):
        await confirm_subscription(await check(sign(BASES[base])), visits)
    assert visits.calls == []


@pytest.mark.parametrize(
    "url",
    [
        *BAD_SUBSCRIBE_URLS,
        SUBSCRIBE_URL.replace("MyTopic", "OtherTopic"),  # confirms another topic
    ],
)
async def test_a_bad_subscribe_url_is_never_visited(url: str) -> None:
    visits = UrlRecorder()
    message = attrs.evolve(parse_sns(body(sign(SUBSCRIPTION))), subscribe_url=url)
    with pytest.raises(SnsRefused):
        await confirm_subscription(message, visits)
    assert visits.calls == []


@pytest.mark.parametrize(
    # An SNS URL of another region passes: only confirm_subscription knows the topic's.
    "url",
    [url for url in BAD_SUBSCRIBE_URLS if url != SUBSCRIBE_URL.replace("us-west-2", "us-east-1")],
)
async def test_the_default_url_fetcher_checks_the_url_itself(url: str) -> None:
    with pytest.raises(SnsRefused, match="SubscribeURL"):
        await sns.fetch_subscribe_url(url)


# --- the default fetch -----------------------------------------------------------------


def _serve(
    monkeypatch: pytest.MonkeyPatch, handler: Callable[[httpx.Request], httpx.Response]
) -> list[httpx.Request]:
    """Route the default fetcher's HTTP to `handler`, recording each request."""
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    client = functools.partial(httpx.AsyncClient, transport=httpx.MockTransport(record))
    monkeypatch.setattr(httpx, "AsyncClient", client)
    return requests


async def test_the_default_fetcher_gets_the_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _serve(monkeypatch, lambda request: httpx.Response(200, content=PEM))
    assert await sns.fetch_certificate(CERT_URL) == PEM
    assert [str(request.url) for request in requests] == [CERT_URL]
    assert requests[0].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("status", [301, 302, 307, 404, 500, 503])
async def test_the_default_fetcher_follows_no_redirect_and_takes_only_200(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    requests = _serve(
        monkeypatch,
        lambda request: httpx.Response(status, headers={"Location": "https://evil.example/"}),
    )
    with pytest.raises(SnsRefused) as refused:
        await sns.fetch_certificate(CERT_URL)
    assert refused.value.retryable
    assert len(requests) == 1


async def test_the_default_fetcher_stops_at_its_size_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _serve(monkeypatch, lambda request: httpx.Response(200, content=b"x" * 10_000_000))
    with pytest.raises(SnsRefused, match="bytes") as refused:
        await sns.fetch_certificate(CERT_URL)
    assert not refused.value.retryable


async def test_a_network_failure_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    _serve(monkeypatch, fail)
    with pytest.raises(SnsRefused) as refused:
        await sns.fetch_certificate(CERT_URL)
    assert refused.value.retryable


async def test_the_default_url_fetcher_visits_a_confirmation_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests = _serve(monkeypatch, lambda request: httpx.Response(200, content=b"<ok/>"))
    await confirm_subscription(parse_sns(body(sign(SUBSCRIPTION))))
    assert [request.method for request in requests] == ["GET"]
    assert str(requests[0].url).startswith("https://sns.us-west-2.amazonaws.com/?Action=")
